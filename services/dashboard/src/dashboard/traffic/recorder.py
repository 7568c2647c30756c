"""Writes the gateways' `TrafficReport`s (one per replica about every second) into the traffic
history.

Subscribes to `events_traffic` in the queue group `dashboard-traffic`, so that however many
dashboard replicas run, each report is counted once; the counters live in Redis, so the history
covers every gateway replica and survives restarts.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from dashboard.metrics import Metrics
from dashboard.traffic.store import TrafficStore
from kiro_service.bus import BusClient
from kiroproto.bus import TRAFFIC_EVENTS, TrafficReport

log = logging.getLogger(__name__)


class TrafficRecorder:
    def __init__(self, store: TrafficStore, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics

    async def subscribe(self, bus: BusClient) -> None:
        """Receive `events_traffic` from now on, in the queue group `dashboard-traffic`."""
        await bus.subscribe(
            TRAFFIC_EVENTS, self.on_event, queue="dashboard-traffic", on_malformed=self.on_malformed
        )

    def on_malformed(self) -> None:
        """An `events_traffic` message that is no `TrafficReport` (dropped by the bus client)."""
        self._metrics.request_events.labels("malformed").inc()

    async def on_event(self, report: TrafficReport) -> None:
        requests = sum(entry.counts.get("n", 0) for entry in report.seconds)
        try:
            await self._store.record(report)
        except RedisError:
            self._metrics.request_events.labels("lost").inc(requests)
            log.warning("traffic report not recorded: Redis unavailable", extra={"requests": requests})
            return
        self._metrics.request_events.labels("recorded").inc(requests)
