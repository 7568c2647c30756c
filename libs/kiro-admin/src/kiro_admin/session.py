"""Admin session cookies and CSRF tokens: pure HMAC-SHA256 code, no I/O.

A session cookie is `v1.<sid>.<expires>.<sig>` where `sig = HMAC(key, "cookie|v1.<sid>.<expires>")`
(base64url, no padding). The CSRF token of a session is `HMAC(key, "csrf|<sid>")`: per session,
stateless, never stored. The key is derived from `KIRO_SESSION_SECRET` when set, else from the
admin token, so the dashboard and the oauth service (same origin behind the gateway) accept each
other's cookies, and changing the admin token logs every session out.

Deliberately not here: revocation (the Redis session record, `auth.py`) and HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

COOKIE_NAME = "kiro_admin"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
_VERSION = "v1"
_KDF_LABEL = b"kiro2api admin session v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class SessionClaims:
    sid: str
    expires_at: int  # epoch seconds


class SessionCodec:
    """Signs and verifies session cookies and CSRF tokens; checks presented admin tokens."""

    __slots__ = ("_admin_digest", "_key")

    def __init__(self, admin_token: str, session_secret: str | None = None) -> None:
        if not admin_token:
            raise ValueError("an admin token is required")
        material = (session_secret or admin_token).encode("utf-8")
        self._key = hmac.new(_KDF_LABEL, material, hashlib.sha256).digest()
        self._admin_digest = _digest(admin_token)

    def _sign(self, purpose: str, value: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}|{value}".encode(), hashlib.sha256).digest())

    def check_admin_token(self, presented: str | None) -> bool:
        """Constant-time comparison (of digests, so lengths leak nothing either)."""
        if not presented:
            return False
        return hmac.compare_digest(_digest(presented), self._admin_digest)

    def issue(self, now: float, ttl_s: float) -> tuple[str, SessionClaims]:
        claims = SessionClaims(sid=secrets.token_urlsafe(18), expires_at=int(now + ttl_s))
        body = f"{_VERSION}.{claims.sid}.{claims.expires_at}"
        return f"{body}.{self._sign('cookie', body)}", claims

    def verify(self, value: str | None, now: float) -> SessionClaims | None:
        """The claims of a well-signed, unexpired cookie, else None."""
        if not value or len(value) > 256:
            return None
        parts = value.split(".")
        if len(parts) != 4 or parts[0] != _VERSION:
            return None
        version, sid, expires, sig = parts
        body = f"{version}.{sid}.{expires}"
        if not hmac.compare_digest(sig, self._sign("cookie", body)):
            return None
        try:
            expires_at = int(expires)
        except ValueError:
            return None
        if expires_at <= now or not sid:
            return None
        return SessionClaims(sid=sid, expires_at=expires_at)

    def csrf_token(self, sid: str) -> str:
        return self._sign("csrf", sid)

    def check_csrf(self, sid: str, presented: str | None) -> bool:
        if not presented:
            return False
        return hmac.compare_digest(presented, self.csrf_token(sid))
