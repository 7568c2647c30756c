"""The one loop that feeds upstream bytes through kiroproto.

`UpstreamStream` reads a 200 chat response in its own task: raw bytes → `EventStreamDecoder` →
`parse_kiro_message` → batches of `KiroEvent` in a small bounded queue. The consumer takes
batches with a timeout, so it can send keep-alive pings during upstream silence without ever
cancelling an HTTP read (cancelling a bounded `queue.get()` is harmless). Transport and decode
errors arrive in the queue as `UpstreamFailure` (network / server error class).

Deliberately not here: what to do with the events (failover.py, client_stream.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

import httpx

from gateway.upstream import Failure, UpstreamFailure, map_upstream_errors
from kiroproto.bus import Outcome
from kiroproto.errors import DecodeError
from kiroproto.eventstream import EventStreamDecoder, HeaderCache
from kiroproto.stream.kiro_events import KiroEvent, parse_kiro_message

_END: Final = None
QUEUE_BATCHES = 64


class UpstreamStream:
    __slots__ = ("_headers", "_queue", "_reader", "_response", "finished")

    def __init__(self, response: httpx.Response, header_cache: HeaderCache | None = None) -> None:
        self._response = response
        self._headers = header_cache
        self._queue: asyncio.Queue[list[KiroEvent] | UpstreamFailure | None] = asyncio.Queue(QUEUE_BATCHES)
        self._reader = asyncio.create_task(self._read(), name="upstream-reader")
        self.finished = False

    async def _read(self) -> None:
        decoder = EventStreamDecoder(self._headers)
        queue = self._queue
        try:
            with map_upstream_errors():
                async for chunk in self._response.aiter_raw():
                    decoder.feed(chunk)
                    batch = [parse_kiro_message(message) for message in decoder]
                    if batch:
                        await queue.put(batch)
            decoder.close()
        except UpstreamFailure as exc:
            await queue.put(exc)
            return
        except DecodeError as exc:
            failure = Failure(
                Outcome.SERVER_ERROR, True, f"upstream sent a malformed event stream: {exc.message}"
            )
            await queue.put(UpstreamFailure(failure))
            return
        await queue.put(_END)

    async def next_batch(self, wait_s: float | None) -> list[KiroEvent] | None:
        """The next batch of events; None at the end of the body. Raises TimeoutError on silence
        longer than `wait_s`, UpstreamFailure on a broken connection or stream."""
        if wait_s is None:
            item = await self._queue.get()
        else:
            async with asyncio.timeout(wait_s):
                item = await self._queue.get()
        if item is None:
            self.finished = True
            return None
        if isinstance(item, UpstreamFailure):
            self.finished = True
            raise item
        return item

    async def close_after_end(self, limit_s: float = 0.25) -> None:
        """Wait (bounded) for the upstream to end its body, then close: the answer's last event
        comes just before that end, and a lease handed on at once (slots.py) must not overlap
        this stream upstream."""
        if not self._reader.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._reader), limit_s)
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reading and close the upstream connection (idempotent; safe while cancelled once)."""
        if not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._response.aclose()
