"""The replica's share of the dashboard's traffic history: finished requests are tallied in
process (`kiroproto.traffic.TrafficTally`, no I/O per request) and published as one
`TrafficReport` on `events_traffic` about every `interval_s` (nothing when idle). What the bus
refuses is kept for the next report (bounded by the tally); `close()` publishes the rest. The
history is best effort: a SIGKILLed replica loses at most its last interval.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from kiro_service.bus import BusClient, BusError
from kiro_service.tasks import cancel_and_wait
from kiroproto.bus import TRAFFIC_EVENTS, TrafficReport
from kiroproto.traffic import FinishedRequest, TrafficTally

log = logging.getLogger(__name__)


class TrafficPublisher:
    def __init__(self, bus: BusClient, *, interval_s: float = 1.0, replica: str | None = None) -> None:
        self._bus = bus
        self._interval_s = interval_s
        self.replica = replica or f"{socket.gethostname()}:{os.getpid()}"
        self.tally = TrafficTally()
        self._task: asyncio.Task[None] | None = None

    def add(self, request: FinishedRequest) -> None:
        """Count one finished request (no I/O); the next report carries it."""
        self.tally.add(request)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="traffic-publisher")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        await self.flush()
        if self.tally.dropped_requests:
            log.warning("traffic history incomplete", extra={"requests": self.tally.dropped_requests})

    async def flush(self) -> None:
        """Publish what the tally holds (one message); on failure keep it for the next try."""
        if not len(self.tally) or not self._bus.connected:
            return
        seconds = self.tally.take()
        try:
            await self._bus.publish(TRAFFIC_EVENTS, TrafficReport(replica=self.replica, seconds=seconds))
        except BusError as exc:
            self.tally.give_back(seconds)
            log.debug("traffic report not published", extra={"error": type(exc).__name__})

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.flush()
