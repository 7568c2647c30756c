"""Prometheus collectors of the oauth service, on a registry made per app."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from dashboard.service_metrics import ServiceMetrics


@dataclass(frozen=True)
class OAuthMetrics:
    registry: CollectorRegistry
    http_requests: Counter
    flows: Counter
    nats_connected: Gauge
    common: ServiceMetrics  # build info, NATS and Redis latency / errors (dashboard.service_metrics)


def create_metrics() -> OAuthMetrics:
    registry = CollectorRegistry(auto_describe=True)
    return OAuthMetrics(
        registry=registry,
        http_requests=Counter(
            "oauth_http_requests_total", "HTTP requests served", ["route", "status"], registry=registry
        ),
        flows=Counter(
            "oauth_flow_events_total",
            "Login flow steps by flow and result",
            ["flow", "result"],
            registry=registry,
        ),
        nats_connected=Gauge("oauth_nats_connected", "1 while connected to NATS", registry=registry),
        common=ServiceMetrics("oauth", registry),
    )
