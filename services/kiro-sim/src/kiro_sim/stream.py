"""Writing a planned answer to the ASGI `send` channel: chunking, delays, cuts, disconnects.

Chunking modes: `random` (default) cuts the bytes into pieces of 1 byte up to several frames,
from the request's seeded RNG, so clients' reassembly is exercised (kiro-protocol.md §15);
`frame` sends one chunk per frame; `whole` sends everything at once (between delays). With an
`event_delay`, each frame is its own burst, preceded by the delay.

A client that goes away is noticed by a small task watching `receive()` for
`http.disconnect`; writing stops then. A scripted cut returns without the final empty chunk,
so the server (uvicorn) closes the connection without finishing the chunked body.

Deliberately not here: what the frames are (`plan.py`), statistics (the chat route).
"""

from __future__ import annotations

import asyncio
import contextlib
from enum import Enum
from random import Random
from typing import Any

from starlette.types import Receive, Send

from kiro_service.tasks import cancel_and_wait
from kiro_sim.plan import Plan
from kiro_sim.settings import Chunking


class Outcome(Enum):
    COMPLETED = "completed"
    CUT = "cut"
    DISCONNECTED = "disconnected"


def random_sizes(rng: Random, total: int) -> list[int]:
    """Chunk sizes summing to `total`: a mix of tiny (1-4), medium and multi-frame chunks."""
    sizes: list[int] = []
    left = total
    while left > 0:
        roll = rng.random()
        if roll < 0.3:
            size = rng.randint(1, 4)
        elif roll < 0.75:
            size = rng.randint(5, 200)
        else:
            size = rng.randint(200, 2000)
        size = min(size, left)
        sizes.append(size)
        left -= size
    return sizes


def _bursts(plan: Plan, event_delay: float) -> list[list[bytes]]:
    if event_delay > 0:
        return [[frame] for frame in plan.frames]
    return [plan.frames] if plan.frames else []


def _chunks(burst: list[bytes], chunking: Chunking, rng: Random) -> list[bytes]:
    if chunking == "frame":
        return burst
    data = b"".join(burst)
    if chunking == "whole":
        return [data]
    out: list[bytes] = []
    pos = 0
    for size in random_sizes(rng, len(data)):
        out.append(data[pos : pos + size])
        pos += size
    return out


class DisconnectWatch:
    """Watches `receive()` for `http.disconnect` while the response is being produced."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._event = asyncio.Event()
        self._task: asyncio.Future[None] | None = None

    async def __aenter__(self) -> DisconnectWatch:
        self._task = asyncio.ensure_future(self._watch())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(self._task)

    @property
    def disconnected(self) -> bool:
        return self._event.is_set()

    async def sleep(self, seconds: float) -> bool:
        """Sleep, waking early if the client goes away; True if it did."""
        if seconds > 0 and not self._event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), seconds)
        return self._event.is_set()

    async def _watch(self) -> None:
        while True:
            message: Any = await self._receive()
            if message["type"] == "http.disconnect":
                self._event.set()
                return


async def write_plan(
    send: Send,
    watch: DisconnectWatch,
    plan: Plan,
    *,
    chunking: Chunking,
    event_delay: float,
    rng: Random,
) -> Outcome:
    """Write the body of a started 200 response. Returns how it ended."""
    for index, burst in enumerate(_bursts(plan, event_delay)):
        if index and await watch.sleep(event_delay):
            return Outcome.DISCONNECTED
        for chunk in _chunks(burst, chunking, rng):
            if watch.disconnected:
                return Outcome.DISCONNECTED
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    if watch.disconnected:
        return Outcome.DISCONNECTED
    if plan.cut:
        if plan.partial:
            await send({"type": "http.response.body", "body": plan.partial, "more_body": True})
        return Outcome.CUT
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    return Outcome.COMPLETED
