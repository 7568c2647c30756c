"""Small readers of raw ASGI scopes, for middleware that runs before a `Request` exists."""

from __future__ import annotations

from starlette.types import Scope


def content_length(scope: Scope) -> int | None:
    """The request's declared `content-length`, or None when absent or not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
