"""OpenTelemetry for the broker: one SERVER span per bus request, joined to the caller's trace.

The gateway puts the W3C trace context (`traceparent`, `tracestate`) into the NATS headers of
each request; `Telemetry.handling(...)` extracts it, so the broker's span is a child of the
gateway's lease span. Off by default: without an exporter configured (`OTEL_*` variables, see
`tracer_provider_from_env`) there is no provider and `handling` is a `nullcontext`: no span
objects, no header parsing.

Deliberately not here: metrics (metrics.py).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping

from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger(__name__)


class Telemetry:
    """The broker's tracer (or none): built in `create_app`, passed to the bus service."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self.provider = provider
        self.tracer: Tracer | None = provider.get_tracer("token_broker") if provider is not None else None
        self._propagator: TextMapPropagator = TraceContextTextMapPropagator()

    @contextlib.contextmanager
    def handling(self, name: str, headers: Mapping[str, str] | None) -> Iterator[None]:
        """A SERVER span for one bus request, child of the trace in `headers` (if any)."""
        if self.tracer is None:
            yield
            return
        parent = self._propagator.extract(dict(headers or {}))
        with self.tracer.start_as_current_span(
            f"kiro.broker {name}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"messaging.system": "nats", "messaging.operation.type": "process"},
        ) as span:
            try:
                yield
            except BaseException as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()
