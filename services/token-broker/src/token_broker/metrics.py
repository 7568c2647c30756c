"""Prometheus collectors of the broker, declared against a registry made in `create_app`.

Credential labels are hashed (`credential_label`) so ids chosen by operators (e-mail
addresses, say) do not end up in a metrics store.
"""

from __future__ import annotations

import hashlib

from prometheus_client import CollectorRegistry

from kiro_service import BoundedLabel, build_info
from kiro_service.metrics import Collectors, TimedCalls

MAX_TEAM_LABELS = 50  # distinct `team` label values per process; later teams are counted as "other"
_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def credential_label(credential_id: str) -> str:
    return hashlib.sha256(credential_id.encode("utf-8")).hexdigest()[:12]


class BrokerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None, version: str = "0.1.0") -> None:
        self.registry = registry or CollectorRegistry()
        c = Collectors(self.registry, "kiro_broker")  # histograms: 0.2 ms to 5 s unless they say
        self.team_label = BoundedLabel(MAX_TEAM_LABELS)  # `team` label values (then "other")
        self.build_info = build_info("kiro_broker_build_info", self.registry, version)
        self.nats_request_duration = c.histogram(
            "nats_request_duration_seconds", "Time to handle a bus request, by endpoint", ["endpoint"]
        )
        self.nats_errors = c.counter(
            "nats_errors_total",
            "Bus requests answered with an error, by endpoint and code",
            ["endpoint", "code"],
        )
        self.redis = TimedCalls(
            self.registry,
            "script",
            duration=("kiro_broker_redis_duration_seconds", "Redis script calls, by script"),
            errors=("kiro_broker_redis_errors_total", "Failed Redis script calls, by script"),
        )
        self.observe_redis = self.redis.observe  # (script, seconds, failed)
        self.team_admissions = c.counter(
            "team_admissions_total",
            "Team-key admissions, by team and result (ok, budget, concurrency, rpm, tpm)",
            ["team", "result"],
        )
        self.usage_records = c.counter(
            "usage_records_total",
            "Team usage records, by outcome (ok, error, rejected, duplicate)",
            ["outcome"],
        )
        self.team_spent = c.gauge(
            "team_spent_tokens",
            "Tokens the team used this calendar month (updated on scrape)",
            ["team"],
            mode="mostrecent",
        )
        self.team_budget = c.gauge(
            "team_budget_tokens",
            "The team's monthly token budget (largest among its live keys; absent: unlimited)",
            ["team"],
            mode="mostrecent",
        )
        self.credentials = c.gauge("credentials", "Credentials by status (updated on scrape)", ["status"])
        self.in_flight = c.gauge("leases_in_flight", "Unexpired leases (updated on scrape)")
        self.leases_granted = c.counter("leases_granted_total", "Leases granted")
        self.leases_denied = c.counter("leases_denied_total", "Lease requests denied", ["reason"])
        self.leases_expired = c.counter(
            "leases_expired_total", "Leases that expired without a release (purged)"
        )
        self.leases_released = c.counter("leases_released_total", "Leases released, by outcome", ["outcome"])
        self.leases_reused = c.counter(
            "leases_reused_total", "Requests a gateway served under a lease it already held (reused slots)"
        )
        self.lease_wait = c.histogram(
            "lease_wait_seconds", "Time from a lease request to its answer", buckets=_WAIT_BUCKETS
        )
        self.session_leases = c.counter(
            "session_leases_total",
            "Leases of client sessions, by whether the session's first account served them "
            "(account=first|other); the share on the first account is first / (first + other)",
            ["account"],
        )
        for account in ("first", "other"):
            self.session_leases.labels(account=account)  # exported from the start
        self.refresh_failures = c.counter(
            "refresh_failures_total", "Failed token refreshes, by reason", ["reason"]
        )
        self.refreshes = c.counter("refreshes_total", "Token refreshes, by result", ["result"])
        self.cooldowns = c.counter(
            "cooldowns_total", "Credentials put in cooldown or parked, by reason", ["reason"]
        )
        self.usage_checks = c.counter("usage_checks_total", "getUsageLimits calls, by result", ["result"])
        self.credits_remaining = c.gauge(
            "credits_remaining", "Usage credits left per credential (hashed id)", ["credential"]
        )
