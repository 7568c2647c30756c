"""Writes the gateway's `RequestEvent`s into the traffic history.

Subscribes to `events_request` in the queue group `dashboard-traffic`, so that however many
dashboard replicas run, each event is counted once; the counters live in Redis, so the history
covers every gateway replica and survives restarts.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from redis.exceptions import RedisError

from dashboard.metrics import Metrics
from dashboard.traffic.store import TrafficStore
from kiroproto.bus import RequestEvent

log = logging.getLogger(__name__)
QUEUE_GROUP = "dashboard-traffic"


class TrafficRecorder:
    def __init__(self, store: TrafficStore, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics

    async def on_message(self, msg: Any) -> None:
        try:
            event = RequestEvent.model_validate_json(msg.data)
        except ValidationError:
            self._metrics.request_events.labels("malformed").inc()
            log.warning("malformed request event ignored")
            return
        try:
            await self._store.record(event)
        except RedisError:
            self._metrics.request_events.labels("lost").inc()
            log.warning("request event not recorded: Redis unavailable")
            return
        self._metrics.request_events.labels("recorded").inc()
