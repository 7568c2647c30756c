"""A credential's quota: parse `getUsageLimits` (kiro-protocol.md §10.2) and check it now or later.

Not the teams' usage records (team_usage.py): these are the limits Kiro itself sets on one account.

Parsing follows §10.3 (kiro.rs): the `CREDIT` breakdown entry (else the first); limit = base
+ the free trial when `ACTIVE` + every active bonus; used likewise. The trial and bonus
figures are stored only while active, so `UsageLimits.remaining` is what can still be spent.
Timestamps arrive as epoch seconds (int, float, `1.7855424E9`), epoch milliseconds, or
ISO-8601 strings; all three are read. A missing or null breakdown list gives zero limits.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from kiroproto.bus import CredentialStatusKind, UsageLimits
from token_broker import records as R
from token_broker.errors import TokenBrokerError
from token_broker.kiro_api import fetch_usage_limits
from token_broker.metrics import BrokerMetrics, credential_label
from token_broker.refresh import Refresher
from token_broker.store import CredentialStore
from token_broker.tasks import OncePerCredential, TaskSet

log = logging.getLogger(__name__)

_MS_THRESHOLD = 100_000_000_000  # larger than any epoch-seconds value until year 5138


def parse_timestamp(value: Any) -> float | None:
    """Epoch seconds from seconds, milliseconds or an ISO-8601 string (None when unreadable)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                return None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.timestamp()
    if isinstance(value, int | float):
        number = float(value)
        if number <= 0:
            return None
        return number / 1000.0 if number > _MS_THRESHOLD else number
    return None


def _num(entry: dict[str, Any], *names: str) -> float:
    for name in names:
        value = entry.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return 0.0


def _active(item: dict[str, Any], status_key: str, expiry_key: str, now_s: float) -> bool:
    status = item.get(status_key)
    if isinstance(status, str) and status.upper() != "ACTIVE":
        return False
    expiry = parse_timestamp(item.get(expiry_key))
    return expiry is None or expiry > now_s


def parse_usage_limits(data: dict[str, Any], now_s: float | None = None) -> UsageLimits:
    now_s = time.time() if now_s is None else now_s
    entries = [e for e in (data.get("usageBreakdownList") or []) if isinstance(e, dict)]
    entry = next((e for e in entries if e.get("resourceType") == "CREDIT"), entries[0] if entries else {})
    trial = entry.get("freeTrialInfo")
    trial_active = isinstance(trial, dict) and _active(trial, "freeTrialStatus", "freeTrialExpiry", now_s)
    bonus_limit = bonus_used = 0.0
    for bonus in entry.get("bonuses") or []:
        if isinstance(bonus, dict) and _active(bonus, "status", "expiresAt", now_s):
            bonus_limit += _num(bonus, "usageLimitWithPrecision", "usageLimit")
            bonus_used += _num(bonus, "currentUsageWithPrecision", "currentUsage")
    subscription = data.get("subscriptionInfo")
    title = subscription.get("subscriptionTitle") if isinstance(subscription, dict) else None
    reset = parse_timestamp(data.get("nextDateReset")) or parse_timestamp(entry.get("nextDateReset"))
    return UsageLimits(
        subscription_title=title if isinstance(title, str) else None,
        base_limit=_num(entry, "usageLimitWithPrecision", "usageLimit"),
        base_used=_num(entry, "currentUsageWithPrecision", "currentUsage"),
        free_trial_limit=_num(trial, "usageLimitWithPrecision", "usageLimit") if trial_active else 0.0,  # type: ignore[arg-type]
        free_trial_used=_num(trial, "currentUsageWithPrecision", "currentUsage") if trial_active else 0.0,  # type: ignore[arg-type]
        free_trial_active=trial_active,
        bonus_limit=bonus_limit,
        bonus_used=bonus_used,
        next_reset_at=reset,
        checked_at=now_s,
    )


def next_month_start_ms(now_s: float) -> int:
    """Quota parking without a known reset: the first day of next month, 00:00 UTC."""
    now = datetime.fromtimestamp(now_s, tz=UTC)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)


class QuotaChecker:
    """`getUsageLimits` for one credential, now or in the background."""

    def __init__(
        self, *, store: CredentialStore, refresher: Refresher, metrics: BrokerMetrics, tasks: TaskSet
    ) -> None:
        self._store = store
        self._refresher = refresher
        self._metrics = metrics
        self._later = OncePerCredential(tasks, "usage check", (TokenBrokerError,))

    def check_later(self, cid: str) -> None:
        self._later.start(cid, lambda: self.check(cid))

    async def check(self, cid: str) -> UsageLimits:
        """Fetch and store the usage limits now (refreshing the token first if needed).

        When the credential is parked for quota and the answer names the reset time, the
        parking ends then instead of at the start of next month.
        """
        try:
            usage = await self._check(cid)
        except TokenBrokerError as exc:
            reason = getattr(exc, "reason", type(exc).__name__)
            self._metrics.usage_checks.labels(result=str(reason)).inc()
            raise
        self._metrics.usage_checks.labels(result="ok").inc()
        return usage

    async def _check(self, cid: str) -> UsageLimits:
        data = await fetch_usage_limits(await self._refresher.runtime_target(cid))
        usage = parse_usage_limits(data)
        fields: dict[str, str | int] = {R.USAGE: R.usage_json(usage)}
        current = await self._store.state(cid)
        if (
            current is not None
            and current.status == CredentialStatusKind.QUOTA_PARKED
            and usage.next_reset_at
        ):
            fields[R.STATUS_UNTIL_MS] = int(usage.next_reset_at * 1000)
        await self._store.patch(cid, fields)
        self._metrics.credits_remaining.labels(credential=credential_label(cid)).set(usage.remaining)
        log.info(
            "usage limits checked",
            extra={"credential": cid, "remaining": usage.remaining, "limit": usage.limit},
        )
        return usage
