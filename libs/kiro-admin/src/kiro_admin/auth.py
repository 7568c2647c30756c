"""Admin authentication for the dashboard and the oauth service (CONTRACTS.md "HTTP surface").

Two ways in:
- `Authorization: Bearer <admin token>` (scripts): no session, no CSRF check.
- the login session cookie (browsers): signed (`session.py`), HttpOnly, SameSite=Strict, backed by a
  Redis record so that logout really ends it; every state-changing request must carry the session's
  CSRF token in the `X-CSRF-Token` header or the `csrf_token` form field.

Errors (`AdminAuthError` and below, under `errors.AdminError`) carry the HTTP status; each service
renders them once (`errors.install_error_handlers`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.requests import Request

from kiro_admin.errors import AdminError
from kiro_admin.keys import AdminKeys
from kiro_admin.session import COOKIE_NAME, CSRF_FIELD, CSRF_HEADER, SessionCodec

_FORM = "application/x-www-form-urlencoded"
_MAX_FORM_BYTES = 64 * 1024


class AdminAuthError(AdminError, status=401, kind="authentication_error"):
    """Root of the admin-check errors."""


class NotAuthenticated(AdminAuthError):
    """No admin credential, or a wrong / expired / logged-out one."""


class CsrfRejected(AdminAuthError, status=403, kind="permission_error"):
    """A state-changing request of a session without its CSRF token."""


class AuthUnavailable(AdminAuthError, status=503, kind="service_unavailable"):
    """The session store (Redis) did not answer: fail closed."""


@dataclass(frozen=True, slots=True)
class Principal:
    via: Literal["bearer", "session"]
    sid: str | None = None
    csrf_token: str | None = None


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form fields of a request (first value each); {} for other bodies."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != _FORM:
        return {}
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        return {}
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {key: values[0] for key, values in parsed.items() if values}


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


@dataclass(frozen=True, slots=True)
class AdminAuth:
    """Checks requests; creates and ends login sessions."""

    codec: SessionCodec
    redis: Redis
    keys: AdminKeys
    session_ttl_s: float
    clock: Callable[[], float] = time.time

    async def login(self, presented: str | None) -> str | None:
        """A new session cookie value when `presented` is the admin token, else None."""
        if not self.codec.check_admin_token(presented):
            return None
        cookie, claims = self.codec.issue(self.clock(), self.session_ttl_s)
        try:
            await self.redis.set(self.keys.session(claims.sid), "1", ex=max(1, int(self.session_ttl_s)))
        except RedisError as exc:
            raise AuthUnavailable("session store unavailable") from exc
        return cookie

    async def logout(self, principal: Principal) -> None:
        if principal.sid is None:
            return
        try:
            await self.redis.delete(self.keys.session(principal.sid))
        except RedisError as exc:
            raise AuthUnavailable("session store unavailable") from exc

    async def identify(self, request: Request) -> Principal | None:
        """Who is asking: a bearer admin, a live session, or nobody."""
        presented = bearer_token(request)
        if presented is not None:
            # A wrong bearer token is refused outright, even next to a valid cookie.
            return Principal(via="bearer") if self.codec.check_admin_token(presented) else None
        claims = self.codec.verify(request.cookies.get(COOKIE_NAME), self.clock())
        if claims is None:
            return None
        try:
            alive = await self.redis.exists(self.keys.session(claims.sid))
        except RedisError as exc:
            raise AuthUnavailable("session store unavailable") from exc
        if not alive:
            return None
        return Principal(via="session", sid=claims.sid, csrf_token=self.codec.csrf_token(claims.sid))

    async def require(self, request: Request, *, write: bool) -> Principal:
        """The principal, or an `AdminAuthError`; `write=True` also checks the CSRF token."""
        principal = await self.identify(request)
        if principal is None:
            raise NotAuthenticated("admin login required")
        if write and principal.via == "session":
            assert principal.sid is not None
            token = request.headers.get(CSRF_HEADER)
            if token is None:
                token = (await read_form(request)).get(CSRF_FIELD)
            if not self.codec.check_csrf(principal.sid, token):
                raise CsrfRejected("missing or wrong CSRF token")
        return principal
