"""PKCE, the pasted redirect URL, imports and flow sealing (pure)."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from kiro_oauth.errors import BadInput
from kiro_oauth.importer import prepare_import
from kiro_oauth.pkce import KIRO_REDIRECT_URI, challenge, login_url, new_state, new_verifier, parse_redirect

REFRESH = "aorAAAAAG" + "r" * 120


def test_pkce_s256() -> None:
    verifier = "dBjftJeZ4CVP-mJ92K1ulHGoO2sRjztiW7CCz3ZKsjs"
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge(verifier) == expected
    verifier = new_verifier()
    assert 43 <= len(verifier) <= 128 and "=" not in verifier
    assert new_state() != new_state()


def test_login_url() -> None:
    url = login_url("http://127.0.0.1:9/", "Github", "CHAL", "STATE")
    parts = urlsplit(url)
    assert parts.path == "/login"
    q = parse_qs(parts.query)
    assert q == {
        "idp": ["Github"],
        "redirect_uri": [KIRO_REDIRECT_URI],
        "code_challenge": ["CHAL"],
        "code_challenge_method": ["S256"],
        "state": ["STATE"],
    }
    assert "redirect_uri=kiro%3A%2F%2Fkiro.kiroAgent%2Fauthenticate-success" in url


@pytest.mark.parametrize(
    "pasted",
    [
        "kiro://kiro.kiroAgent/authenticate-success?code=C1&state=S1",
        "  kiro://kiro.kiroAgent/authenticate-success?state=S1&code=C1&extra=1 ",
        "?code=C1&state=S1",
        "code=C1&state=S1",
    ],
)
def test_parse_redirect(pasted: str) -> None:
    got = parse_redirect(pasted)
    assert (got.code, got.state) == ("C1", "S1")


@pytest.mark.parametrize(
    ("pasted", "match"),
    [
        ("", "paste the address"),
        ("kiro://kiro.kiroAgent/authenticate-success?state=S1", "no code and state"),
        ("kiro://kiro.kiroAgent/authenticate-success?error=access_denied&error_description=nope", "refused"),
        ("x" * 9000, "too long"),
    ],
)
def test_parse_redirect_errors(pasted: str, match: str) -> None:
    with pytest.raises(BadInput, match=match):
        parse_redirect(pasted)


def test_import_kiro_ide_files_with_client_registration() -> None:
    token_file = {
        "accessToken": "aoa" + "a" * 50,
        "refreshToken": REFRESH,
        "expiresAt": "2030-01-01T00:00:00Z",
        "authMethod": "IdC",
        "provider": "BuilderId",
        "region": "us-east-1",
        "clientIdHash": "abc123",
    }
    registration = {"clientId": "client-1", "clientSecret": "secret-1", "expiresAt": "2030-03-01T00:00:00Z"}
    prepared = prepare_import(orjson.dumps(token_file).decode(), orjson.dumps(registration).decode())
    assert prepared.problems == ()
    [(index, cred)] = prepared.credentials
    assert index == 0 and cred.auth == "IdC"
    assert (cred.client_id, cred.client_secret, cred.region) == ("client-1", "secret-1", "us-east-1")


def test_import_reports_each_bad_entry_by_index() -> None:
    entries = [
        {"auth": "Social", "refreshToken": REFRESH},
        {"authMethod": "IdC", "refreshToken": REFRESH + "x", "clientIdHash": "h"},
        {"auth": "Social", "refreshToken": "aorAAAAAG...truncated"},
        {"auth": "Social", "refreshToken": REFRESH},
        {"auth": "Martian", "refreshToken": REFRESH + "y"},
        "not an object",
    ]
    prepared = prepare_import(orjson.dumps(entries).decode())
    assert [i for i, _ in prepared.credentials] == [0]
    reasons = {p.index: p.reason for p in prepared.problems}
    assert set(reasons) == {1, 2, 3, 4, 5}
    assert "client registration file" in reasons[1]
    assert "truncated" in reasons[2]
    assert "duplicate" in reasons[3]
    assert "unknown auth kind" in reasons[4]


@pytest.mark.parametrize(
    ("text", "registration", "match"),
    [
        ("", None, "paste a credential"),
        ("{oops", None, "not valid JSON"),
        ("[]", None, "empty list"),
        ('{"refreshToken": "x"}', "[1]", "must be a JSON object"),
        ('{"refreshToken": "x"}', '{"clientId": "a"}', "no clientId / clientSecret"),
    ],
)
def test_import_input_errors(text: str, registration: str | None, match: str) -> None:
    with pytest.raises(BadInput, match=match):
        prepare_import(text, registration)


def test_import_accepts_kiro_api_keys() -> None:
    key = "ksk_" + "Q" * 40
    text = orjson.dumps([{"kiroApiKey": key}, {"auth": "ApiKey", "apiKey": key + "2", "region": "us-west-2"}])
    prepared = prepare_import(text.decode())
    ((index, cred),) = prepared.credentials
    assert index == 0 and cred.auth == "ApiKey" and cred.secret == key
    ((problem),) = prepared.problems
    assert problem.index == 1 and "us-east-1 and eu-central-1" in problem.reason and key not in problem.reason
