"""Prometheus collectors of the gateway, registered on a registry created per app.

Labels stay low-cardinality: `route` is a fixed name (never the raw path), `model` the Kiro
model id, `outcome` a bus `Outcome` value.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

_ROUTES = {
    "/v1/messages": "messages",
    "/v1/messages/count_tokens": "count_tokens",
    "/v1/chat/completions": "chat_completions",
    "/v1/models": "models",
    "/healthz": "healthz",
    "/readyz": "readyz",
    "/metrics": "metrics",
}


def route_label(path: str) -> str:
    return _ROUTES.get(path.rstrip("/") or "/", "forward" if not path.startswith("/v1") else "unknown")


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "gateway_requests_total",
            "HTTP requests by route, model and status",
            ["route", "model", "status"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "gateway_request_duration_seconds",
            "Time from request to the end of the response",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.ttft = Histogram(
            "gateway_time_to_first_token_seconds",
            "Time from request to the first content event sent",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.upstream_duration = Histogram(
            "gateway_upstream_duration_seconds",
            "Upstream call duration by outcome",
            ["outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.lease_wait = Histogram(
            "gateway_lease_wait_seconds",
            "Time to get a lease from the token broker",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.failovers = Counter(
            "gateway_upstream_failovers_total",
            "Upstream attempts that failed and were retried, by class",
            ["outcome"],
            registry=registry,
        )
        self.upstream_failures = Counter(
            "gateway_upstream_failures_total",
            "Upstream attempts that failed, by class",
            ["outcome"],
            registry=registry,
        )
        self.client_disconnects = Counter(
            "gateway_client_disconnects_total",
            "Clients that went away before the response ended",
            ["route"],
            registry=registry,
        )
        self.pings = Counter(
            "gateway_pings_total", "Keep-alive pings sent during upstream silence", registry=registry
        )
        self.streams_active = Gauge(
            "gateway_streams_active", "Responses being streamed now", registry=registry
        )
        self.nats_connected = Gauge("gateway_nats_connected", "1 when connected to NATS", registry=registry)
        self.bus_errors = Counter(
            "gateway_bus_errors_total", "Failed broker round trips by operation", ["op"], registry=registry
        )
