"""Plumbing every Kiro2API service shares: JSON logging and the OpenTelemetry set-up.

Service-specific behaviour (spans, metrics, routes) stays in each service; only the parts that
were identical in every service live here. The bus client is `kiro_service.bus.BusClient`
(imported from its module: it brings in nats-py).
"""

from kiro_service.inbound import (
    InboundLimits,
    attach_limits,
    load_limits,
    raise_open_file_limit,
    server_options,
)
from kiro_service.jsonlog import JsonFormatter, configure_logging
from kiro_service.metrics import build_info, render_metrics
from kiro_service.metrics_port import MetricsServer
from kiro_service.tracing import tracer_provider_from_env

__all__ = [
    "InboundLimits",
    "JsonFormatter",
    "MetricsServer",
    "attach_limits",
    "build_info",
    "configure_logging",
    "load_limits",
    "raise_open_file_limit",
    "render_metrics",
    "server_options",
    "tracer_provider_from_env",
]
