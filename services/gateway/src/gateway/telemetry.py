"""OpenTelemetry for the gateway: a span per request, child spans per bus round trip (the lease),
per upstream attempt and for the stream, with the trace context carried in NATS headers.

    POST /v1/messages                      SERVER  (request_span.py: gen_ai.* attributes)
    ├── kiro.bus lease_acquire             CLIENT  traceparent in the NATS headers (kiro_service.bus)
    │   └── kiro.broker LeaseRequest       SERVER  (the broker, same trace)
    ├── kiro.upstream.attempt 1            CLIENT  status, failure class, hashed credential id
    ├── kiro.bus lease_release ...
    ├── kiro.upstream.attempt 2 ...        (one per attempt when a failover happens)
    └── kiro.stream                        the streamed body (streaming requests)

Off by default (`tracer_provider_from_env`). When off, the per-request middleware never sets
the context variable below, and every helper here returns at its first line (`None` spans,
no header dicts): the hot path pays a context-variable read per hook.

The tracer travels in a `ContextVar` set per request (like OTel's own context), so the lease,
failover and streaming code need no tracer argument; background tasks (release, renew) copy
the context and so join the request's trace.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from contextvars import ContextVar

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

log = logging.getLogger(__name__)

CURRENT_TRACER: ContextVar[Tracer | None] = ContextVar("kiro_gateway_tracer", default=None)


class Telemetry:
    """The gateway's tracer, or None when tracing is off (built in `create_app`)."""

    def __init__(self, provider: TracerProvider | None, *, owned: bool = True) -> None:
        self.provider = provider
        self.tracer: Tracer | None = provider.get_tracer("gateway") if provider is not None else None
        self._owned = owned

    def shutdown(self) -> None:
        if self.provider is not None and self._owned:
            self.provider.shutdown()


def credential_hash(credential_id: str) -> str:
    """The credential label used in spans and metrics: never the id itself (may be an e-mail)."""
    return hashlib.sha256(credential_id.encode("utf-8")).hexdigest()[:12]


# ---------------------------------------------------------------- hooks (all no-ops when off)


def start_span(name: str, attributes: Mapping[str, str | int | float | bool] | None = None) -> Span | None:
    tracer = CURRENT_TRACER.get()
    if tracer is None:
        return None
    return tracer.start_span(name, kind=SpanKind.CLIENT, attributes=dict(attributes or {}))


def end_span(span: Span | None, *, error: str | None = None, **attributes: str | int | float | bool) -> None:
    if span is None:
        return
    for key, value in attributes.items():
        span.set_attribute(key.replace("__", "."), value)
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error))
    span.end()


def attempt_span(attempt_no: int, credential_id: str, model: str) -> Span | None:
    if CURRENT_TRACER.get() is None:
        return None  # tracing off: no hash computed
    return start_span(
        f"kiro.upstream.attempt {attempt_no}",
        {
            "kiro.attempt": attempt_no,
            "kiro.credential.hash": credential_hash(credential_id),
            "gen_ai.request.model": model,
        },
    )


def end_attempt(span: Span | None, status: int | None, failure_class: str | None) -> None:
    if span is None or not span.is_recording():  # ended already (idempotent)
        return
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    span.set_attribute("kiro.failure_class", failure_class or "none")
    if failure_class is not None:
        span.set_status(Status(StatusCode.ERROR, failure_class))
    span.end()
