"""OpenTelemetry set-up from the standard `OTEL_*` variables; off (None) by default.

Each service builds its own spans; this only decides whether tracing is on and builds the
provider and exporter.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

log = logging.getLogger(__name__)

_ON = ("otlp", "console")


def tracer_provider_from_env(
    service_name: str, env: Mapping[str, str] | None = None
) -> TracerProvider | None:
    """A provider when tracing is configured, else None (the default: tracing off).

    On when `OTEL_TRACES_EXPORTER` is `otlp` or `console`, or an OTLP endpoint is set
    (`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); off when
    `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`. Exporter, sampler
    (`OTEL_TRACES_SAMPLER[_ARG]`), batching (`OTEL_BSP_*`) and resource (`OTEL_SERVICE_NAME`,
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
