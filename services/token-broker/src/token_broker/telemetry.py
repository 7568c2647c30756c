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
import os
from collections.abc import Iterator, Mapping

from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger(__name__)

_ON = ("otlp", "console")


def tracer_provider_from_env(
    service_name: str, env: Mapping[str, str] | None = None
) -> TracerProvider | None:
    """A provider when tracing is configured, else None (the default: tracing off).

    On when `OTEL_TRACES_EXPORTER` is `otlp` or `console`, or an OTLP endpoint is set
    (`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); off when
    `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`. The exporter, sampler
    (`OTEL_TRACES_SAMPLER`), batch sizes (`OTEL_BSP_*`) and resource (`OTEL_SERVICE_NAME`,
    `OTEL_RESOURCE_ATTRIBUTES`) read their standard variables.
    """
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporter_name = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if exporter_name == "none" or (exporter_name not in _ON and not endpoint):
        return None
    exporter: SpanExporter
    if exporter_name == "console":
        exporter = ConsoleSpanExporter()
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.error("tracing is configured but opentelemetry-exporter-otlp-proto-http is not installed")
            return None
        exporter = OTLPSpanExporter()
    attributes = {} if env.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    log.info("tracing on", extra={"exporter": exporter_name or "otlp"})
    return provider


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
