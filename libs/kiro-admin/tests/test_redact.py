"""The last-line redaction of outgoing JSON and log lines."""

from __future__ import annotations

from kiro_admin.redact import REDACTED, Redactor

ACCESS = "aoaAAAAAGexampleAccessToken0123456789abcdefghijklmnop"
REFRESH = "aorAAAAAGexampleRefreshToken0123456789abcdefghijklmnop"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


def test_tokens_and_configured_secrets_are_scrubbed() -> None:
    r = Redactor(["my-admin-key-123", None, ""])
    text = f"refresh {REFRESH} access {ACCESS} id {JWT} key my-admin-key-123 ok"
    out = r.text(text)
    for secret in (ACCESS, REFRESH, JWT, "my-admin-key-123"):
        assert secret not in out
    assert out.count(REDACTED) == 4
    assert out.endswith(" ok")


def test_long_opaque_secret_is_scrubbed() -> None:
    secret = "Qx" * 40
    assert Redactor().text(f"client secret {secret}") == f"client secret {REDACTED}"


def test_fingerprints_ids_and_messages_survive() -> None:
    r = Redactor(["my-admin-key-123"])
    doc = {
        "id": "cred-0123456789abcdef",
        "access_token_fingerprint": "sha256:0123456789",
        "last_error": "upstream 429: Too many requests",
        "profile": "arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK",
        "n": 3,
        "nested": [{"x": ACCESS}],
    }
    out = r.scrub(doc)
    assert out["id"] == doc["id"]
    assert out["access_token_fingerprint"] == doc["access_token_fingerprint"]
    assert out["last_error"] == doc["last_error"]
    assert out["profile"] == doc["profile"]
    assert out["n"] == 3
    assert out["nested"] == [{"x": REDACTED}]


def test_log_lines_are_json_and_redacted() -> None:
    import json
    import logging

    from kiro_service import JsonFormatter

    formatter = JsonFormatter("dashboard", Redactor(["my-admin-key-123"]).text)
    record = logging.makeLogRecord(
        {
            "name": "t",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "key %s token %s",
            "args": ("my-admin-key-123", ACCESS),
            "credential_id": "cred-a",
        }
    )
    line = formatter.format(record)
    doc = json.loads(line)
    assert doc["service"] == "dashboard" and doc["credential_id"] == "cred-a"
    assert "my-admin-key-123" not in line and ACCESS not in line
