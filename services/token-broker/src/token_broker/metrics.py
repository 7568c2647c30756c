"""Prometheus collectors of the broker, declared against a registry made in `create_app`.

Credential labels are hashed (`credential_label`) so ids chosen by operators (e-mail
addresses, say) do not end up in a metrics store.
"""

from __future__ import annotations

import hashlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def credential_label(credential_id: str) -> str:
    return hashlib.sha256(credential_id.encode("utf-8")).hexdigest()[:12]


class BrokerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.credentials = Gauge(
            "kiro_broker_credentials", "Credentials by status (updated on scrape)", ["status"], registry=r
        )
        self.in_flight = Gauge(
            "kiro_broker_leases_in_flight", "Unexpired leases (updated on scrape)", registry=r
        )
        self.leases_granted = Counter("kiro_broker_leases_granted_total", "Leases granted", registry=r)
        self.leases_denied = Counter(
            "kiro_broker_leases_denied_total", "Lease requests denied", ["reason"], registry=r
        )
        self.leases_expired = Counter(
            "kiro_broker_leases_expired_total", "Leases that expired without a release (purged)", registry=r
        )
        self.leases_released = Counter(
            "kiro_broker_leases_released_total", "Leases released, by outcome", ["outcome"], registry=r
        )
        self.lease_wait = Histogram(
            "kiro_broker_lease_wait_seconds",
            "Time from a lease request to its answer",
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.refreshes = Counter(
            "kiro_broker_refreshes_total", "Token refreshes, by result", ["result"], registry=r
        )
        self.refresh_failures = Counter(
            "kiro_broker_refresh_failures_total", "Failed token refreshes, by reason", ["reason"], registry=r
        )
        self.cooldowns = Counter(
            "kiro_broker_cooldowns_total",
            "Credentials put in cooldown or parked, by reason",
            ["reason"],
            registry=r,
        )
        self.credits_remaining = Gauge(
            "kiro_broker_credits_remaining",
            "Usage credits left per credential (hashed id)",
            ["credential"],
            registry=r,
        )
        self.usage_checks = Counter(
            "kiro_broker_usage_checks_total", "getUsageLimits calls, by result", ["result"], registry=r
        )
