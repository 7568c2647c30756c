"""Pure ASGI middleware shared by the dashboard and the oauth service.

`AccessMiddleware`: one INFO log line and one counter increment per request (path without the
query string: nothing secret ever travels there, but nothing is logged from it either), and
the security headers every admin page wants: a strict Content-Security-Policy (scripts and
styles from this origin only: the front-end is served by the service itself), no framing,
no sniffing, no caching of pages that show pool state.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import Counter
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class AccessMiddleware:
    def __init__(self, app: ASGIApp, *, counter: Counter, logger: logging.Logger) -> None:
        self.app = app
        self.counter = counter
        self.log = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
