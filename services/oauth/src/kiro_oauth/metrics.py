"""Prometheus collectors of the oauth service, on a registry made per app: the shared ones of
`kiro_service.ServiceMetrics` (`oauth_*`: HTTP, NATS, Redis, build) and the login flows."""

from __future__ import annotations

from prometheus_client import Counter

from kiro_service.metrics import ServiceMetrics


class OAuthMetrics(ServiceMetrics):
    def __init__(self) -> None:
        super().__init__("oauth")
        self.flows = Counter(
            "oauth_flow_events_total",
            "Login flow steps by flow and result",
            ["flow", "result"],
            registry=self.registry,
        )


def create_metrics() -> OAuthMetrics:
    return OAuthMetrics()
