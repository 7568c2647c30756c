"""Live feed of the pool and traffic views: fans snapshots out to server-sent-event clients.

Sources: the broker's `events_credential` (every replica subscribes without a queue group: each
has its own pages to update), `pool_status` polls every `pool_interval_s` while at least one page
is connected (and at once after a credential event or an action), and traffic snapshots from
Redis every `traffic_interval_s`. Each client has a small queue; a slow client loses old
snapshots, never blocks the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict
from redis.exceptions import RedisError

from dashboard.metrics import Metrics
from dashboard.traffic.snapshot import CredentialTraffic, TrafficSnapshot
from dashboard.traffic.store import TrafficStore
from kiro_admin import Redactor
from kiro_service.bus import BusClient, BusError
from kiro_service.tasks import cancel_all
from kiroproto.bus import POOL_STATUS, CredentialEvent, PoolStatus, PoolStatusRequest

log = logging.getLogger(__name__)
_QUEUE_SIZE = 32


class PoolView(BaseModel):
    """What a pool page shows: the broker's status plus last-hour traffic per credential."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    error: str | None = None
    pool: PoolStatus | None = None
    last_hour: dict[str, CredentialTraffic] = {}
    generated_at: float


@dataclass(frozen=True, slots=True)
class LiveMessage:
    event: str
    data: bytes  # JSON, already redacted

    def encode(self) -> bytes:
        return b"event: " + self.event.encode() + b"\ndata: " + self.data + b"\n\n"


@dataclass(slots=True)
class LiveHub:
    bus: BusClient
    traffic: TrafficStore
    redactor: Redactor
    metrics: Metrics
    broker_timeout_s: float = field(kw_only=True)
    pool_interval_s: float = field(kw_only=True)
    traffic_interval_s: float = field(kw_only=True)
    clock: Callable[[], float] = field(default=time.time, kw_only=True)
    closing: bool = field(default=False, init=False)
    latest_pool: PoolView | None = field(default=None, init=False)
    latest_traffic: TrafficSnapshot | None = field(default=None, init=False)
    _clients: set[asyncio.Queue[LiveMessage | None]] = field(default_factory=set, init=False)
    _watched: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _pool_wakeup: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, init=False)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._pool_loop(), name="live-pool"),
            asyncio.create_task(self._traffic_loop(), name="live-traffic"),
        ]

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        self._tasks = []

    # ------------------------------------------------------------ clients
    def close_streams(self) -> None:
        """End every live stream (on shutdown: open streams would hold the server's graceful exit)."""
        self.closing = True
        for queue in list(self._clients):
            while queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(None)

    def subscribe(self) -> asyncio.Queue[LiveMessage | None]:
        queue: asyncio.Queue[LiveMessage | None] = asyncio.Queue(maxsize=_QUEUE_SIZE)
        self._clients.add(queue)
        self.metrics.sse_clients.set(len(self._clients))
        for latest, event in ((self.latest_pool, "pool"), (self.latest_traffic, "traffic")):
            if latest is not None:
                queue.put_nowait(self._message(event, latest))
        self._watched.set()
        self._pool_wakeup.set()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[LiveMessage | None]) -> None:
        self._clients.discard(queue)
        self.metrics.sse_clients.set(len(self._clients))
        if not self._clients:
            self._watched.clear()

    def request_refresh(self) -> None:
        """Poll the broker now (after an action or a credential event)."""
        self._pool_wakeup.set()

    def _message(self, event: str, payload: BaseModel | dict[str, Any]) -> LiveMessage:
        raw = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
        return LiveMessage(event, orjson.dumps(self.redactor.scrub(raw)))

    def _broadcast(self, message: LiveMessage) -> None:
        for queue in list(self._clients):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(message)

    # ------------------------------------------------------------ sources
    async def on_credential_event(self, event: CredentialEvent) -> None:
        """The `events_credential` subscriber (malformed events never reach it)."""
        self.metrics.credential_events.inc()
        self._broadcast(self._message("credential", event))
        self.request_refresh()

    async def pool_view(self) -> PoolView:
        """A fresh pool view (also used to render the page)."""
        last_hour = self.latest_traffic.credentials if self.latest_traffic is not None else {}
        try:
            pool = await self.bus.call(POOL_STATUS, PoolStatusRequest(), timeout_s=self.broker_timeout_s)
        except BusError as exc:
            self.metrics.broker_calls.labels("pool_status", "error").inc()
            view = PoolView(
                ok=False,
                error=f"token-broker unavailable: {exc}",
                pool=None,
                last_hour=last_hour,
                generated_at=self.clock(),
            )
            if self.latest_pool is not None and self.latest_pool.pool is not None:
                view = view.model_copy(update={"pool": self.latest_pool.pool})
            return view
        self.metrics.broker_calls.labels("pool_status", "ok").inc()
        return PoolView(ok=True, pool=pool, last_hour=last_hour, generated_at=self.clock())

    async def traffic_snapshot(self) -> TrafficSnapshot:
        snapshot = await self.traffic.snapshot(self.clock())
        self.latest_traffic = snapshot
        return snapshot

    async def _pool_loop(self) -> None:
        while True:
            await self._watched.wait()
            self._pool_wakeup.clear()
            view = await self.pool_view()
            self.latest_pool = view
            self._broadcast(self._message("pool", view))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._pool_wakeup.wait(), timeout=self.pool_interval_s)

    async def _traffic_loop(self) -> None:
        while True:
            await self._watched.wait()
            try:
                snapshot = await self.traffic_snapshot()
            except RedisError:  # a Redis hiccup: keep the loop, say so once per tick
                log.warning("traffic snapshot failed", exc_info=True)
            else:
                self._broadcast(self._message("traffic", snapshot))
            await asyncio.sleep(self.traffic_interval_s)
