"""Usage records of team-key requests, delivered to the broker until acknowledged.

When a team-key request ends, the lifecycle layer builds one `UsageRecord` (what the client
was told: outcome, input / output tokens, Kiro credits) and hands it to `UsageReporter.submit`,
which never blocks the request. One background task sends batches (`usage.record`, up to
`MAX_BATCH` records) and retries a batch with backoff until the broker acknowledges it; the
broker applies each record at most once (by request id), so a retry after a lost reply counts
nothing twice. At shutdown the reporter gets `drain_s` to deliver what is queued, and logs
how many records it had to drop (it drops nothing earlier unless `MAX_PENDING` is reached).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from prometheus_client import Counter, Gauge

from gateway.record import RequestRecord, usage_record
from kiro_service.bus import BusClient, BusError
from kiroproto.bus import USAGE_RECORD, UsageBatch, UsageRecord
from kiroproto.stream import Usage

log = logging.getLogger(__name__)

MAX_BATCH = 200
MAX_PENDING = 100_000
_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


class UsageReporter:
    def __init__(
        self,
        bus: BusClient,
        *,
        timeout_s: float,
        records: Counter,
        pending: Gauge,
    ) -> None:
        self._bus = bus
        self._timeout_s = timeout_s
        self._records = records
        self._pending_gauge = pending
        self._queue: deque[UsageRecord] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def submit(self, record: UsageRecord) -> None:
        if len(self._queue) >= MAX_PENDING:
            self._records.labels("dropped").inc()
            log.error("usage record dropped: the queue is full", extra={"request_id": record.request_id})
            return
        self._queue.append(record)
        self._pending_gauge.set(len(self._queue))
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="usage-reporter")
        self._wake.set()

    async def deliver_now(self, record: UsageRecord) -> bool:
        """Deliver one record and wait for the broker's acknowledgement (one try within the
        timeout). On failure the record is queued for the background retries; returns whether
        it was acknowledged now."""
        try:
            await self._bus.call(USAGE_RECORD, UsageBatch(records=(record,)), timeout_s=self._timeout_s)
        except BusError:
            self.submit(record)
            return False
        self._records.labels("sent").inc()
        return True

    async def write_ahead(self, record: RequestRecord, usage: Usage) -> None:
        """Make a team-key answer's usage durable BEFORE the client is told it (the final
        `message_delta` / `usage` chunk, or the JSON body), so that a gateway killed right after
        answering loses no usage record. One broker round trip for team keys, nothing for the
        operator key. If the broker cannot take it now, the record goes to the background queue
        (delivered with retries) and the answer is not held back."""
        if record.key is None:
            return
        record.usage_recorded = await self.deliver_now(usage_record(record, record.key, "ok", usage))

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._queue[i] for i in range(min(MAX_BATCH, len(self._queue)))]
            await self._deliver(batch)
            for _ in batch:
                self._queue.popleft()
            self._pending_gauge.set(len(self._queue))
            self._records.labels("sent").inc(len(batch))

    async def _deliver(self, batch: list[UsageRecord]) -> None:
        message = UsageBatch(records=tuple(batch))
        failures = 0
        while True:
            try:
                await self._bus.call(USAGE_RECORD, message, timeout_s=self._timeout_s)
                return
            except BusError as exc:
                self._records.labels("retried").inc(len(batch))
                delay = _BACKOFF[min(failures, len(_BACKOFF) - 1)]
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    log.warning(
                        "usage records not delivered yet; retrying",
                        extra={"records": len(batch), "attempts": failures, "error": str(exc)},
                    )
                await asyncio.sleep(delay)

    async def close(self, drain_s: float) -> None:
        """Deliver what is queued within `drain_s`, then stop (logging what is left)."""
        self._closing = True
        self._wake.set()
        task = self._task
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=drain_s)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._queue:
            self._records.labels("dropped").inc(len(self._queue))
            log.error("usage records lost at shutdown", extra={"records": len(self._queue)})
