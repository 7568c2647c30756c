"""Pure ASGI middleware shared by the dashboard and the oauth service.

`AccessMiddleware`: one INFO log line and one counter increment per request (path without the
query string: nothing secret ever travels there, but nothing is logged from it either), and
the security headers every admin page wants: a strict Content-Security-Policy (scripts and
styles from this origin only: the front-end is served by the service itself), no framing,
no sniffing, no caching of pages that show pool state.

`BodyCapMiddleware`: request bodies over the dashboard's cap are refused (413) after reading at
most the cap, never read whole first.
"""

from __future__ import annotations

import json
import logging
import time

from prometheus_client import Counter
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kiro_service.asgi import HttpMiddleware, content_length

_QUIET = frozenset({"/healthz", "/readyz", "/metrics"})
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


class AccessMiddleware(HttpMiddleware):
    def __init__(self, app: ASGIApp, *, counter: Counter, logger: logging.Logger) -> None:
        super().__init__(app)
        self.counter = counter
        self.log = logger

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if "cache-control" not in headers:
                    headers["cache-control"] = "no-store"
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path = str(scope.get("path", ""))
            route = scope.get("route")
            label = str(getattr(route, "path", "unmatched"))
            self.counter.labels(label, str(status)).inc()
            level = logging.DEBUG if path in _QUIET else logging.INFO
            self.log.log(
                level,
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": path,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )


class BodyCapMiddleware(HttpMiddleware):
    """Reads at most `max_bytes` of a request body, then refuses it with 413 without reading on.

    A declared `content-length` over the cap is refused before any byte is read; a chunked body
    is read into memory only up to the cap. The body that fits is replayed to the app in one
    message; later `receive()` calls (disconnect detection of live pages) go to the server.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                first: Message = message
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return first
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": {
                    "type": "request_too_large",
                    "message": f"request body is larger than {self.max_bytes} bytes",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
