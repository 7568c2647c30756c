"""Pure ASGI middleware: request id, body limit, the per-request log line and metrics, and the
last-resort error boundary (a bug → 500 in the client's shape with the request id, no trace).

Never `BaseHTTPMiddleware`: streaming responses and client-disconnect detection pass straight
through. Routes put the model they served into `scope["state"]["model"]` for the log line.
"""

from __future__ import annotations

import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import InternalError, RequestTooLarge, flavour_for_path, render_error
from gateway.failover import queue_ms
from gateway.metrics import Metrics, route_label
from kiro_service.asgi import HttpMiddleware, content_length

log = logging.getLogger(__name__)


class GatewayMiddleware(HttpMiddleware):
    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        super().__init__(app)
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = "req_" + uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        path: str = scope["path"]
        flavour = flavour_for_path(path)
        status = 0
        limit = self.max_body_bytes
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestTooLarge(f"request body is larger than {limit} bytes")
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            declared = content_length(scope)
            if declared is not None and declared > limit:
                err = RequestTooLarge(f"request body is larger than {limit} bytes")
                await render_error(err, flavour, request_id)(scope, receive, send_with_id)
                return
            await self.app(scope, limited_receive, send_with_id)
        except Exception as exc:  # the boundary: anything that got here is a bug
            log.error("unhandled error", exc_info=exc, extra={"request_id": request_id, "path": path})
            if status == 0:
                response = render_error(InternalError("internal error"), flavour, request_id)
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_label(path)
            model = str(state.get("model") or "")
            self.metrics.requests.labels(route, model, str(state.get("team") or ""), str(status)).inc()
            self.metrics.request_duration.labels(route).observe(elapsed)
            if route not in ("healthz", "readyz", "metrics"):
                log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope.get("method"),
                        "path": path,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        # apart from upstream time and TTFT: how long it waited for an account
                        "queue_ms": queue_ms(state),
                        "ttft_ms": _ms(state.get("ttft_s")),
                        "model": model or None,
                        "stream": state.get("stream"),
                        "disconnected": state.get("disconnected"),
                    },
                )


def _ms(seconds: object) -> float | None:
    return round(seconds * 1000, 2) if isinstance(seconds, float) else None
