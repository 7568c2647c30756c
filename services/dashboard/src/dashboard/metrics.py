"""Prometheus collectors of the dashboard, on a registry made per app (tests stay isolated)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from dashboard.service_metrics import ServiceMetrics


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    http_requests: Counter
    login_attempts: Counter
    sse_clients: Gauge
    request_events: Counter
    credential_events: Counter
    broker_calls: Counter
    nats_connected: Gauge
    common: ServiceMetrics  # build info, NATS and Redis latency / errors (dashboard.service_metrics)


def create_metrics() -> Metrics:
    registry = CollectorRegistry(auto_describe=True)
    return Metrics(
        registry=registry,
        http_requests=Counter(
            "dashboard_http_requests_total", "HTTP requests served", ["route", "status"], registry=registry
        ),
        login_attempts=Counter(
            "dashboard_login_attempts_total", "Admin logins by result", ["result"], registry=registry
        ),
        sse_clients=Gauge("dashboard_sse_clients", "Live pages connected", registry=registry),
        request_events=Counter(
            "dashboard_request_events_total", "Gateway request events recorded", ["result"], registry=registry
        ),
        credential_events=Counter(
            "dashboard_credential_events_total", "Broker credential events received", registry=registry
        ),
        broker_calls=Counter(
            "dashboard_broker_calls_total", "Calls to the token-broker", ["call", "result"], registry=registry
        ),
        nats_connected=Gauge("dashboard_nats_connected", "1 while connected to NATS", registry=registry),
        common=ServiceMetrics("dashboard", registry),
    )
