"""Prometheus collectors of the dashboard, on a registry made per app (tests stay isolated):
the shared ones of `kiro_service.ServiceMetrics` (`dashboard_*`: HTTP, NATS, Redis, build) and
the dashboard's own."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from kiro_service.metrics import ServiceMetrics


class Metrics(ServiceMetrics):
    def __init__(self) -> None:
        super().__init__("dashboard")
        self.login_attempts = Counter(
            "dashboard_login_attempts_total", "Admin logins by result", ["result"], registry=self.registry
        )
        self.sse_clients = Gauge("dashboard_sse_clients", "Live pages connected", registry=self.registry)
        self.request_events = Counter(
            "dashboard_request_events_total",
            "Gateway request events recorded",
            ["result"],
            registry=self.registry,
        )
        self.credential_events = Counter(
            "dashboard_credential_events_total", "Broker credential events received", registry=self.registry
        )
        self.broker_calls = Counter(
            "dashboard_broker_calls_total",
            "Calls to the token-broker",
            ["call", "result"],
            registry=self.registry,
        )


def create_metrics() -> Metrics:
    return Metrics()
