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

from typing import Any

from prometheus_client import CollectorRegistry

from kiro_service.bus import BusError
from kiro_service.metrics import BoundedLabel, Collectors, TimedCalls, build_info
from kiroproto.bus import Endpoint

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
        # gauges are summed over the workers unless they say otherwise
        c = Collectors(registry, "gateway", buckets=_LATENCY_BUCKETS, gauge_mode="livesum")
        self.requests = c.counter(
            "requests_total",
            "HTTP requests by route, model, team and status",
            ["route", "model", "team", "status"],
        )
        self.request_duration = c.histogram(
            "request_duration_seconds", "Time from request to the end of the response", ["route"]
        )
        self.leases_reused = c.counter(
            "leases_reused_total", "Requests served under a lease this replica already held (slots.py)"
        )
        self.ttft = c.histogram(
            "time_to_first_token_seconds", "Time from request to the first content event sent", ["route"]
        )
        self.upstream_duration = c.histogram(
            "upstream_duration_seconds", "Upstream call duration by outcome", ["outcome"]
        )
        self.failovers = c.counter(
            "upstream_failovers_total", "Failed upstream attempts that were retried, by class", ["outcome"]
        )
        self.lease_wait = c.histogram("lease_wait_seconds", "Time to get a lease from the token broker")
        self.upstream_failures = c.counter(
            "upstream_failures_total", "Failed upstream attempts, by class", ["outcome"]
        )
        self.client_disconnects = c.counter(
            "client_disconnects_total", "Clients that went away before the response ended", ["route"]
        )
        self.nats_connected = c.gauge("nats_connected", "1 when connected to NATS", mode="livemin")
        self.build_info = build_info("gateway_build_info", registry, version)
        self.in_flight = c.gauge("requests_in_flight", "Requests being handled now, by route", ["route"])
        self.stream_events = c.counter(
            "stream_events_total",
            "Events sent to clients in streamed responses (content deltas, block starts/stops...)",
            ["route"],
        )
        self.repairs = c.counter(
            "request_repairs_total", "Requests the canonicalizer repaired, by rule", ["rule"]
        )
        self.tokens = c.counter(
            "tokens_total",
            "Tokens reported to clients, by team, model and direction (input, output)",
            ["team", "model", "direction"],
        )
        self.truncated_answers = c.counter(
            "truncated_answers_total",
            "Upstream answers that ended without their trailer after content (sent as max_tokens)",
            ["model"],
        )
        self.pings = c.counter("pings_total", "Keep-alive pings sent during upstream silence")
        self.streams_active = c.gauge("streams_active", "Responses being streamed now")
        self.token_estimate_ratio = c.histogram(
            "input_tokens_estimate_ratio",
            "Local input-token estimate divided by the upstream-reported input tokens",
            buckets=_RATIO_BUCKETS,
        )
        self.bus = TimedCalls(
            registry,
            "op",
            duration=(
                "gateway_nats_request_duration_seconds",
                "NATS request-reply round trips to the broker, by bus endpoint",
            ),
            errors=("gateway_bus_errors_total", "Failed broker round trips by bus endpoint"),
            buckets=_BUS_BUCKETS,
        )
        self.web_searches = c.counter(
            "web_search_requests_total",
            "Web searches for Anthropic's web_search tool (Kiro MCP), by outcome (ok or the error code)",
            ["outcome"],
        )
        self.usage_pending = c.gauge(
            "usage_records_pending", "Team usage records waiting for the broker's acknowledgement"
        )
        self.usage_records = c.counter(
            "usage_records_total",
            "Team usage records by delivery result (sent, retried, dropped)",
            ["result"],
        )

    def observe_bus(self, endpoint: Endpoint[Any, Any], seconds: float, error: BusError | None) -> None:
        """The bus client's observer: round trips and failures by endpoint name (`op`)."""
        self.bus.observe(endpoint.name, seconds, error is not None)

    def nats_up(self, up: bool) -> None:
        self.nats_connected.set(1 if up else 0)
