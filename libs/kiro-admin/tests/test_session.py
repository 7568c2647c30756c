"""Cookie signing, CSRF tokens and admin-token checks (pure)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kiro_admin.session import SessionCodec

NOW = 1_700_000_000.0


def test_issue_and_verify_round_trip() -> None:
    codec = SessionCodec("admin-token-1")
    cookie, claims = codec.issue(NOW, 3600)
    assert claims.expires_at == int(NOW + 3600)
    assert codec.verify(cookie, NOW + 10) == claims
    assert "admin-token-1" not in cookie


def test_expired_cookie_is_refused() -> None:
    codec = SessionCodec("admin-token-1")
    cookie, _ = codec.issue(NOW, 60)
    assert codec.verify(cookie, NOW + 61) is None


@pytest.mark.parametrize(
    "mutate",
    [
        lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"),  # signature
        lambda c: c.replace(c.split(".")[1], "someone-else", 1),  # session id
        lambda c: ".".join([*c.split(".")[:2], str(int(c.split(".")[2]) + 9999), c.split(".")[3]]),  # expiry
        lambda c: "v2" + c[2:],  # version
        lambda c: c + ".extra",
        lambda c: "",
    ],
)
def test_tampered_cookie_is_refused(mutate: Callable[[str], str]) -> None:
    codec = SessionCodec("admin-token-1")
    cookie, _ = codec.issue(NOW, 3600)
    assert codec.verify(mutate(cookie), NOW) is None


def test_cookie_from_another_key_is_refused() -> None:
    cookie, _ = SessionCodec("admin-token-1").issue(NOW, 3600)
    assert SessionCodec("admin-token-2").verify(cookie, NOW) is None


def test_session_secret_is_shared_between_services_and_outlives_admin_token_text() -> None:
    cookie, claims = SessionCodec("token-a", "shared-secret").issue(NOW, 3600)
    assert SessionCodec("token-b", "shared-secret").verify(cookie, NOW) == claims
    assert SessionCodec("token-a").verify(cookie, NOW) is None


def test_csrf_token_is_per_session_and_checked_in_constant_time() -> None:
    codec = SessionCodec("admin-token-1")
    _, one = codec.issue(NOW, 3600)
    _, two = codec.issue(NOW, 3600)
    assert one.sid != two.sid
    token = codec.csrf_token(one.sid)
    assert codec.check_csrf(one.sid, token)
    assert not codec.check_csrf(two.sid, token)
    assert not codec.check_csrf(one.sid, None)
    assert not codec.check_csrf(one.sid, "")
    assert not codec.check_csrf(one.sid, token[:-1])


def test_admin_token_check() -> None:
    codec = SessionCodec("admin-token-1")
    assert codec.check_admin_token("admin-token-1")
    assert not codec.check_admin_token("admin-token-")
    assert not codec.check_admin_token("admin-token-11")
    assert not codec.check_admin_token(None)
    assert not codec.check_admin_token("")


def test_codec_needs_a_token() -> None:
    with pytest.raises(ValueError, match="admin token"):
        SessionCodec("")
