"""Prometheus collectors of the oauth service, on a registry made per app: the shared ones of
`kiro_service.ServiceMetrics` (`oauth_*`: HTTP, NATS, Redis, build) and the login flows."""

from __future__ import annotations

from kiro_service.metrics import ServiceMetrics


class OAuthMetrics(ServiceMetrics):
    def __init__(self) -> None:
        super().__init__("oauth")
        self.flows = self.collectors.counter(
            "flow_events_total", "Login flow steps by flow and result", ["flow", "result"]
        )


def create_metrics() -> OAuthMetrics:
    return OAuthMetrics()
