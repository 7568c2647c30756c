"""Prometheus collectors of the gateway, registered on a registry created per app.

Labels stay low-cardinality: `route` is a fixed name (never the raw path), `model` the Kiro
model id (from the operator's model map, never the client's string), `outcome` a bus `Outcome`
value, `team` a team name from the admin API (at most `MAX_TEAM_LABELS` per process, then
"other"; "operator" for `KIRO_CLIENT_TOKEN`, "" before authentication), `rule` a canonicalizer
rule name. Credential ids never appear (spans carry a hash). deploy/METRICS.md lists them all.

Multiprocess mode (several uvicorn workers): set `PROMETHEUS_MULTIPROC_DIR` to an empty
directory; `/metrics` then merges every worker's values (`render_metrics`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from kiro_service.metrics import BoundedLabel, build_info

MAX_TEAM_LABELS = 50
_RATIO_BUCKETS = (0.25, 0.5, 0.67, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25, 1.5, 2.0, 4.0)
_BUS_BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

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
    def __init__(self, registry: CollectorRegistry, version: str = "0.1.0") -> None:
        self.registry = registry
        self.team_label = BoundedLabel(MAX_TEAM_LABELS)  # `team` label values: a bounded set
        self.requests = Counter(
            "gateway_requests_total",
            "HTTP requests by route, model, team and status",
            ["route", "model", "team", "status"],
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
            "gateway_streams_active",
            "Responses being streamed now",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.nats_connected = Gauge(
            "gateway_nats_connected",
            "1 when connected to NATS",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.bus_errors = Counter(
            "gateway_bus_errors_total", "Failed broker round trips by operation", ["op"], registry=registry
        )
        self.build_info = build_info("gateway_build_info", registry, version)
        self.in_flight = Gauge(
            "gateway_requests_in_flight",
            "Requests being handled now, by route",
            ["route"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.stream_events = Counter(
            "gateway_stream_events_total",
            "Events sent to clients in streamed responses (content deltas, block starts/stops...)",
            ["route"],
            registry=registry,
        )
        self.tokens = Counter(
            "gateway_tokens_total",
            "Tokens reported to clients, by team, model and direction (input, output)",
            ["team", "model", "direction"],
            registry=registry,
        )
        self.repairs = Counter(
            "gateway_request_repairs_total",
            "Requests the canonicalizer repaired, by rule",
            ["rule"],
            registry=registry,
        )
        self.truncated_answers = Counter(
            "gateway_truncated_answers_total",
            "Upstream answers that ended without their trailer after content (sent as max_tokens)",
            ["model"],
            registry=registry,
        )
        self.token_estimate_ratio = Histogram(
            "gateway_input_tokens_estimate_ratio",
            "Local input-token estimate divided by the upstream-reported input tokens",
            buckets=_RATIO_BUCKETS,
            registry=registry,
        )
        self.nats_request_duration = Histogram(
            "gateway_nats_request_duration_seconds",
            "NATS request-reply round trips to the broker, by operation",
            ["op"],
            buckets=_BUS_BUCKETS,
            registry=registry,
        )
        self.web_searches = Counter(
            "gateway_web_search_requests_total",
            "Web searches for Anthropic's web_search tool (Kiro MCP), by outcome (ok or the error code)",
            ["outcome"],
            registry=registry,
        )
        self.usage_records = Counter(
            "gateway_usage_records_total",
            "Team usage records by delivery result (sent, retried, dropped)",
            ["result"],
            registry=registry,
        )
        self.usage_pending = Gauge(
            "gateway_usage_records_pending",
            "Team usage records waiting for the broker's acknowledgement",
            registry=registry,
            multiprocess_mode="livesum",
        )
