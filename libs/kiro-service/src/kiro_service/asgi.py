"""Raw ASGI helpers, for middleware that runs before a `Request` exists.

`HttpMiddleware`: the base of a pure ASGI middleware that acts on HTTP requests only (lifespan
and websocket scopes pass straight through); `content_length(scope)`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware(ABC):
    """Wraps `app`; `handle` sees the HTTP requests, every other scope goes to `app` untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    @abstractmethod
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One HTTP request (`scope["type"] == "http"`)."""


def content_length(scope: Scope) -> int | None:
    """The request's declared `content-length`, or None when absent or not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
