"""The client's key as presented: `x-api-key` or `Authorization: Bearer` (checked in key_cache.py)."""

from __future__ import annotations

from starlette.datastructures import Headers


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
