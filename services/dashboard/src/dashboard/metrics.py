"""Prometheus collectors of the dashboard, on a registry made per app (tests stay isolated):
the shared ones of `kiro_service.ServiceMetrics` (`dashboard_*`: HTTP, NATS, Redis, build) and
the dashboard's own."""

from __future__ import annotations

from kiro_service.metrics import ServiceMetrics


class Metrics(ServiceMetrics):
    def __init__(self) -> None:
        super().__init__("dashboard")
        c = self.collectors
        self.login_attempts = c.counter("login_attempts_total", "Admin logins by result", ["result"])
        self.sse_clients = c.gauge("sse_clients", "Live pages connected")
        self.request_events = c.counter(
            "request_events_total",
            "Finished gateway requests recorded in the traffic history (malformed: reports)",
            ["result"],
        )
        self.credential_events = c.counter("credential_events_total", "Broker credential events received")
        self.broker_calls = c.counter("broker_calls_total", "Calls to the token-broker", ["call", "result"])


def create_metrics() -> Metrics:
    return Metrics()
