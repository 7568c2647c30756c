"""Prometheus collectors of the broker, declared against a registry made in `create_app`.

Credential labels are hashed (`credential_label`) so ids chosen by operators (e-mail
addresses, say) do not end up in a metrics store.
"""

from __future__ import annotations

import hashlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from kiro_service import BoundedLabel, build_info

MAX_TEAM_LABELS = 50  # distinct `team` label values per process; later teams are counted as "other"
_FAST_BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def credential_label(credential_id: str) -> str:
    return hashlib.sha256(credential_id.encode("utf-8")).hexdigest()[:12]


class BrokerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None, version: str = "0.1.0") -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.team_label = BoundedLabel(MAX_TEAM_LABELS)  # `team` label values (then "other")
        self.build_info = build_info("kiro_broker_build_info", r, version)
        self.nats_request_duration = Histogram(
            "kiro_broker_nats_request_duration_seconds",
            "Time to handle a bus request, by endpoint",
            ["endpoint"],
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.nats_errors = Counter(
            "kiro_broker_nats_errors_total",
            "Bus requests answered with an error, by endpoint and code",
            ["endpoint", "code"],
            registry=r,
        )
        self.redis_duration = Histogram(
            "kiro_broker_redis_duration_seconds",
            "Redis script calls, by script",
            ["script"],
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.redis_errors = Counter(
            "kiro_broker_redis_errors_total", "Failed Redis script calls, by script", ["script"], registry=r
        )
        self.team_admissions = Counter(
            "kiro_broker_team_admissions_total",
            "Team-key admissions, by team and result (ok, budget, concurrency, rpm, tpm)",
            ["team", "result"],
            registry=r,
        )
        self.usage_records = Counter(
            "kiro_broker_usage_records_total",
            "Team usage records, by outcome (ok, error, rejected, duplicate)",
            ["outcome"],
            registry=r,
        )
        self.team_spent = Gauge(
            "kiro_broker_team_spent_tokens",
            "Tokens the team used this calendar month (updated on scrape)",
            ["team"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.team_budget = Gauge(
            "kiro_broker_team_budget_tokens",
            "The team's monthly token budget (largest among its live keys; absent: unlimited)",
            ["team"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
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
        self.session_leases = Counter(
            "kiro_broker_session_leases_total",
            "Leases of client sessions, by whether the session's first account served them "
            "(account=first|other); the share on the first account is first / (first + other)",
            ["account"],
            registry=r,
        )
        for account in ("first", "other"):
            self.session_leases.labels(account=account)  # exported from the start
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

    def observe_redis(self, script: str, seconds: float, failed: bool) -> None:
        self.redis_duration.labels(script).observe(seconds)
        if failed:
            self.redis_errors.labels(script).inc()
