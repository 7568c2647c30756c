"""Client authentication: `x-api-key` or `Authorization: Bearer`, compared in constant time."""

from __future__ import annotations

import hmac

from starlette.datastructures import Headers

from gateway.errors import AuthenticationFailed


def presented_key(headers: Headers) -> str | None:
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


def check_client_key(headers: Headers, expected: bytes) -> None:
    """Raise AuthenticationFailed unless the request carries the operator key."""
    key = presented_key(headers)
    if key is None:
        raise AuthenticationFailed("missing API key: send it as x-api-key or Authorization: Bearer")
    if not hmac.compare_digest(key.encode("utf-8"), expected):
        raise AuthenticationFailed("invalid API key")
