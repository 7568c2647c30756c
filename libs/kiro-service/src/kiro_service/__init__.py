"""The skeleton every Kiro2API service is built on.

- `settings`: `ServiceSettings` (the contract's shared variables, once), `Duration`, `LogLevel`,
  `describe_settings_error`;
- `serve`: `load_settings` (a bad value: one line, exit 2) and `serve` (uvicorn with the
  inbound limits and a graceful SIGTERM: readiness false, drain, exit 0);
- `health`: `/healthz`, `/readyz` (one body shape), `/metrics` (admin key on the public port),
  readiness checks as injected async callables;
- `deps`: lifespan state as a typed object and the dependency that hands it to routes;
- `jsonlog`, `metrics`, `metrics_port`, `tracing`, `busconn`, `redisconn`, `inbound`, `keyspace`,
  `tasks`: logging, Prometheus (`Collectors` declares a service's own), the keyless metrics port,
  OpenTelemetry, NATS options, Redis client options, inbound HTTP limits, the base of Redis key
  builders, stopping background tasks.

- `bus`: `BusClient`, the one client of the bus table (imported from its module: it brings in
  nats-py); `checks`: readiness checks for the bus and Redis.

Service-specific behaviour (spans, metrics, routes) stays in each service.
"""

from kiro_service.asgi import HttpMiddleware, content_length
from kiro_service.deps import lifespan_state, service_state, state_dependency
from kiro_service.health import (
    Health,
    Readiness,
    ReadinessCheck,
    admin_key_guard,
    admin_key_matches,
    health_routes,
    registry_metrics,
)
from kiro_service.inbound import (
    InboundLimits,
    attach_limits,
    load_limits,
    raise_open_file_limit,
    server_options,
)
from kiro_service.jsonlog import JsonFormatter, configure_logging
from kiro_service.metrics import BoundedLabel, build_info, render_metrics
from kiro_service.metrics_port import MetricsServer
from kiro_service.serve import Listen, config_error, load_settings, serve, serve_workers
from kiro_service.settings import (
    BaseServiceSettings,
    Duration,
    LogLevel,
    MetricsPort,
    ServiceSettings,
    UpstreamSettings,
    describe_settings_error,
    empty_to_none,
    parse_log_level,
)
from kiro_service.tracing import tracer_provider_from_env

__all__ = [
    "BaseServiceSettings",
    "BoundedLabel",
    "Duration",
    "Health",
    "HttpMiddleware",
    "Listen",
    "LogLevel",
    "MetricsPort",
    "Readiness",
    "ReadinessCheck",
    "ServiceSettings",
    "UpstreamSettings",
    "admin_key_guard",
    "admin_key_matches",
    "config_error",
    "content_length",
    "describe_settings_error",
    "empty_to_none",
    "health_routes",
    "lifespan_state",
    "load_settings",
    "parse_log_level",
    "registry_metrics",
    "serve",
    "serve_workers",
    "service_state",
    "state_dependency",
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
