"""Periodic jobs, each done by ONE broker replica per period.

Every replica ticks every few seconds and tries `SET lock:job:{name} NX PX period`; whoever
gets it runs the job, and nobody else can until the period has passed (the lock is never
released early). Jobs:

- `refresh`  (every BROKER_REFRESH_CHECK_INTERVAL): refresh the access tokens that expire
  within BROKER_REFRESH_MARGIN (or are stale / missing) of credentials used in the last 24 h,
  and of those that never had a token, so requests rarely wait for a refresh.
- `usage`    (every BROKER_USAGE_POLL_INTERVAL): `getUsageLimits` for every credential that
  is not disabled or invalid; stored on the record, shown in the pool status and metrics.
- `catalogue` (every BROKER_CATALOGUE_INTERVAL, default 30 min, and once at start):
  `ListAvailableModels` for every account in rotation (catalogue.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.exceptions import RedisError

from token_broker.catalogue import Catalogues
from token_broker.credential_quota import QuotaChecker
from token_broker.errors import TokenBrokerError
from token_broker.records import CredentialState, in_rotation, now_ms
from token_broker.refresh import Refresher
from token_broker.settings import Settings
from token_broker.store import CredentialStore
from token_broker.tasks import TaskSet

log = logging.getLogger(__name__)

MAX_TICK_S = 5.0
RECENT_USE_MS = 24 * 3600 * 1000


@dataclass(slots=True, kw_only=True)
class PeriodicJobs:
    settings: Settings
    store: CredentialStore
    refresher: Refresher
    usage: QuotaChecker
    tasks: TaskSet
    catalogues: Catalogues | None = None

    def start(self) -> None:
        self.tasks.spawn(
            self._loop("refresh", self.settings.broker_refresh_check_interval, self.refresh_expiring),
            name="job-refresh",
        )
        self.tasks.spawn(
            self._loop("usage", self.settings.broker_usage_poll_interval, self.poll_usage), name="job-usage"
        )
        if self.catalogues is not None:
            self.tasks.spawn(self._catalogue_job(self.catalogues), name="job-catalogue")

    async def _loop(self, name: str, period_s: float, job: Callable[[], Awaitable[None]]) -> None:
        if period_s <= 0:
            log.info("periodic job %s is off", name)
            return
        tick = min(period_s, MAX_TICK_S)
        while True:
            try:
                got = await self.store.redis.set(
                    self.store.keys.job_lock(name),
                    self.settings.broker_instance_id,
                    nx=True,
                    px=int(period_s * 1000),
                )
                if got:
                    await job()
            except (RedisError, TokenBrokerError) as exc:
                log.warning("periodic job %s failed: %s", name, exc)
            await asyncio.sleep(tick)

    async def _catalogue_job(self, catalogues: Catalogues) -> None:
        """Every broker fetches the catalogues once at start (a restart may follow a change of
        accounts); then one replica per BROKER_CATALOGUE_INTERVAL."""
        period = self.settings.broker_catalogue_interval
        try:
            if period > 0:
                await self.store.redis.set(
                    self.store.keys.job_lock("catalogue"),
                    self.settings.broker_instance_id,
                    px=int(period * 1000),
                )
            await catalogues.refresh_all()
        except (RedisError, TokenBrokerError) as exc:
            log.warning("catalogue fetch at start failed: %s", exc)
        await self._loop("catalogue", period, catalogues.refresh_all)

    async def _states(self) -> list[CredentialState]:
        return [s for s in await self.store.states() if in_rotation(s)]

    async def refresh_expiring(self) -> None:
        at = now_ms()
        margin = self.refresher.margin_ms
        for state in await self._states():
            if state.auth == "ApiKey":
                continue  # never refreshed
            recent = at - state.last_used_ms < RECENT_USE_MS or not state.token_fp
            if not recent or state.token_valid_for_ms(at) > margin or state.refresh_retry_at_ms > at:
                continue
            try:
                await self.refresher.ensure_fresh(state.id, within_ms=margin)
            except TokenBrokerError as exc:
                log.info("scheduled refresh failed", extra={"credential": state.id, "reason": str(exc)})

    async def poll_usage(self) -> None:
        for state in await self._states():
            try:
                await self.usage.check(state.id)
            except TokenBrokerError as exc:
                log.info("scheduled usage check failed", extra={"credential": state.id, "reason": str(exc)})
