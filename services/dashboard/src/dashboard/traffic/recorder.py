"""Writes the gateway's `RequestEvent`s into the traffic history.

Subscribes to `events_request` in the queue group `dashboard-traffic`, so that however many
dashboard replicas run, each event is counted once; the counters live in Redis, so the history
covers every gateway replica and survives restarts.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from dashboard.metrics import Metrics
from dashboard.traffic.store import TrafficStore
from kiro_service.bus import BusClient
from kiroproto.bus import REQUEST_EVENTS, RequestEvent

log = logging.getLogger(__name__)


class TrafficRecorder:
    def __init__(self, store: TrafficStore, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics

    async def subscribe(self, bus: BusClient) -> None:
        """Receive `events_request` from now on, in the queue group `dashboard-traffic`."""
        await bus.subscribe(
            REQUEST_EVENTS, self.on_event, queue="dashboard-traffic", on_malformed=self.on_malformed
        )

    def on_malformed(self) -> None:
        """An `events_request` message that is no `RequestEvent` (dropped by the bus client)."""
        self._metrics.request_events.labels("malformed").inc()

    async def on_event(self, event: RequestEvent) -> None:
        try:
            await self._store.record(event)
        except RedisError:
            self._metrics.request_events.labels("lost").inc()
            log.warning("request event not recorded: Redis unavailable")
            return
        self._metrics.request_events.labels("recorded").inc()
