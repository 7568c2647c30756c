"""What the pool offers now, for model resolution and `GET /v1/models` (CONTRACTS.md "Models").

The broker keeps each account's live catalogue; the gateway asks it for the union on the bus
(`pool_models`) at start, every `GATEWAY_CATALOGUE_TTL` (default 30 s), and at once when a
broker publishes on `events_catalogue` (an account's model set changed, an account was retired
or restored). Requests never wait for the bus: they resolve against the last answer (until the
first one, the configured static list, as for accounts whose catalogue is unknown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kiro_service.bus import BusClient, BusError
from kiro_service.tasks import cancel_and_wait
from kiroproto.bus import CATALOGUE_EVENTS, POOL_MODELS, CatalogueEvent, PoolModels, PoolModelsRequest
from kiroproto.models import ModelMap, OfferedModel

log = logging.getLogger(__name__)

RETRY_S = 1.0


class PoolCatalogue:
    def __init__(self, bus: BusClient, base: ModelMap, *, ttl_s: float, timeout_s: float) -> None:
        self._bus = bus
        self._base = base
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._current = base
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.pool: PoolModels | None = None

    @property
    def current(self) -> ModelMap:
        return self._current

    async def start(self) -> None:
        await self._bus.subscribe(CATALOGUE_EVENTS, self._on_event)
        self._task = asyncio.create_task(self._loop(), name="pool-catalogue")

    async def _loop(self) -> None:
        while True:
            wait_s = self._ttl_s
            try:
                await self.refresh()
            except BusError as exc:
                log.debug("pool catalogue not fetched: %s", exc)
                wait_s = min(self._ttl_s, RETRY_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), wait_s)
            self._changed.clear()

    async def refresh(self) -> None:
        pool = await self._bus.call(POOL_MODELS, PoolModelsRequest(), timeout_s=self._timeout_s)
        offered = [OfferedModel(m.id, m.context_window) for m in pool.models]
        complete = pool.accounts > 0 and pool.unknown_accounts == 0
        before = self._current.offered
        self._current = self._base.with_pool(offered, catalogue_complete=complete)
        self.pool = pool
        if self._current.offered != before:
            log.info(
                "pool models",
                extra={"models": list(self._current.offered), "unknown_accounts": pool.unknown_accounts},
            )

    async def _on_event(self, _event: CatalogueEvent) -> None:
        self._changed.set()

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
