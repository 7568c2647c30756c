"""CPU-heavy work off the event loop: a bounded pool of worker processes.

`json`, orjson, pydantic, pypdf and the tokenizer hold the GIL while they work, so threads do
not keep the loop free; worker processes do. `Offloader.run(fn, *args)` runs a picklable,
module-level function in a worker and awaits its result (exceptions raised by `fn` are re-raised
here, so they must be picklable too). The pool is created on first use, in a thread: starting
the forkserver (which imports `preload` once) blocks its caller for a second or more, which must
not be the loop. Workers run at a lower CPU priority (`nice`), so on a busy machine the loop of
the serving process is scheduled first. The pool closes with the app; if a worker dies the pool
is replaced and the calls in flight fail with `BrokenProcessPool`. (Interface shared by the large-body path,
bodies.py, where the admission of bytes in flight and the size threshold live, and document
extraction.)
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

T = TypeVar("T")

PRELOAD = ("gateway.prepare", "gateway.media.prepare")
WORKER_NICENESS = 10


def _lower_priority() -> None:
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)


def _ready() -> bool:
    return True


class Offloader:
    def __init__(self, *, workers: int = 2, preload: Sequence[str] = PRELOAD) -> None:
        self._workers = max(1, workers)
        self._preload = list(preload)
        self._pool: ProcessPoolExecutor | None = None
        self._starting: asyncio.Lock | None = None

    @property
    def workers(self) -> int:
        return self._workers

    def _start_pool(self) -> ProcessPoolExecutor:
        """Create the pool and start every worker (blocking: run in a thread)."""
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(self._preload)
        pool = ProcessPoolExecutor(max_workers=self._workers, mp_context=context, initializer=_lower_priority)
        for future in [pool.submit(_ready) for _ in range(self._workers)]:
            future.result()
        return pool

    async def _executor(self) -> ProcessPoolExecutor:
        if self._pool is not None:
            return self._pool
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._pool is None:
                self._pool = await asyncio.to_thread(self._start_pool)
            return self._pool

    async def run(self, fn: Callable[..., T], /, *args: object) -> T:
        loop = asyncio.get_running_loop()
        pool = await self._executor()
        try:
            return await loop.run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            if self._pool is pool:  # the next call gets a fresh pool
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
