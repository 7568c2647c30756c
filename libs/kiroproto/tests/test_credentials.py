"""The KIRO_AUTH_TOKEN schema: aliases, identity, per-index problems."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from kiroproto.credentials import (
    CredentialConfig,
    credential_identity,
    fingerprint,
    parse_credentials,
)

RT = "aor" + "A" * 120


def test_single_object_and_defaults() -> None:
    result = parse_credentials(orjson.dumps({"auth": "Social", "refreshToken": RT}))
    assert result.problems == ()
    (cred,) = result.credentials
    assert cred.auth == "Social"
    assert cred.identity == credential_identity(RT)
    assert cred.identity.startswith("cred-") and RT not in cred.identity
    assert cred.priority == 0 and cred.disabled is False


def test_array_with_bad_entries_reports_index_and_keeps_the_rest() -> None:
    text = orjson.dumps(
        [
            {"auth": "IdC", "refreshToken": RT, "clientId": "c", "clientSecret": "s"},
            {"auth": "IdC", "refreshToken": RT + "x"},  # IdC without client
            {"auth": "Weird", "refreshToken": RT + "y"},
            "not an object",
            {"auth": "Social"},  # no refresh token
            {"auth": "Social", "refreshToken": RT, "clientId": "c", "clientSecret": "s", "auth2": 1},
            {"auth": 5, "refreshToken": RT + "z"},
        ]
    )
    result = parse_credentials(text)
    assert [c.auth for c in result.credentials] == ["IdC"]
    indices = [p.index for p in result.problems]
    assert indices == [1, 2, 3, 4, 5, 6]
    assert "clientId" in result.problems[0].reason
    assert "unknown auth kind" in result.problems[1].reason
    assert "duplicate" in result.problems[4].reason


@pytest.mark.parametrize(
    ("method", "kind"),
    [("social", "Social"), ("idc", "IdC"), ("builder-id", "IdC"), ("IAM", "IdC"), ("IdC", "IdC")],
)
def test_auth_method_aliases(method: str, kind: str) -> None:
    cred = CredentialConfig.model_validate(
        {"authMethod": method, "refreshToken": RT, "clientId": "c", "clientSecret": "s"}
    )
    assert cred.auth == kind


def test_kiro_ide_file_fields_and_inferred_idc() -> None:
    ide = {
        "accessToken": "aoa123",
        "refreshToken": RT,
        "expiresAt": "2026-01-01T00:00:00Z",
        "profileArn": "arn:aws:codewhisperer:us-east-1:123456789012:profile/X",
        "region": "us-east-1",
        "provider": "Github",
    }
    cred = CredentialConfig.model_validate(ide)
    assert cred.auth == "Social" and cred.access_token == "aoa123"
    assert cred.profile_arn and cred.region == "us-east-1"
    inferred = CredentialConfig.model_validate({"refreshToken": RT, "clientId": "c", "clientSecret": "s"})
    assert inferred.auth == "IdC"


def test_explicit_id_wins_and_not_json() -> None:
    cred = CredentialConfig.model_validate({"refreshToken": RT, "id": "main"})
    assert cred.identity == "main"
    bad = parse_credentials("{nope")
    assert bad.credentials == () and bad.problems[0].index == -1
    with pytest.raises(ValidationError):
        CredentialConfig.model_validate([1, 2])


def test_fingerprint_is_short_and_stable() -> None:
    assert fingerprint("") == ""
    fp = fingerprint(RT)
    assert fp == fingerprint(RT) and fp.startswith("sha256:") and RT not in fp and len(fp) == 17


KEY = "ksk_" + "K" * 40


@pytest.mark.parametrize(
    "entry",
    [
        {"auth": "ApiKey", "apiKey": KEY},
        {"kiroApiKey": KEY},
        {"authMethod": "api_key", "apiKey": KEY},
        {"apiKey": KEY, "region": "eu-central-1"},
    ],
)
def test_api_key_shapes(entry: dict[str, object]) -> None:
    (cred,) = parse_credentials(orjson.dumps(entry)).credentials
    assert cred.auth == "ApiKey"
    assert cred.secret == KEY and cred.refresh_token == ""
    assert cred.identity == credential_identity(KEY) and KEY not in cred.identity
    assert CredentialConfig.model_validate({**entry, "id": "org"}).identity == "org"


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"auth": "ApiKey"}, "apiKey"),
        ({"auth": "ApiKey", "apiKey": "aoa-not-a-key"}, "ksk_"),
        ({"auth": "ApiKey", "apiKey": KEY, "region": "us-west-2"}, "us-east-1 and eu-central-1"),
    ],
)
def test_bad_api_keys_are_reported(entry: dict[str, object], reason: str) -> None:
    result = parse_credentials(orjson.dumps([entry]))
    assert result.credentials == ()
    assert reason in result.problems[0].reason
    assert KEY not in result.problems[0].reason


def test_serving_region_of_api_keys() -> None:
    from kiroproto.credentials import serving_region

    assert serving_region("ApiKey", "ap-southeast-1") == "us-east-1"
    assert serving_region("ApiKey", "eu-central-1") == "eu-central-1"
    assert serving_region("Social", "ap-southeast-1") == "ap-southeast-1"
