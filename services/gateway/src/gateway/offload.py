"""CPU-heavy work off the event loop: a bounded pool of worker processes.

`json`, orjson, pydantic, pypdf and the tokenizer hold the GIL while they work, so threads do
not keep the loop free; worker processes do. `Offloader.run(fn, *args)` runs a picklable,
module-level function in a worker and awaits its result (exceptions raised by `fn` are re-raised
here, so they must be picklable too). The pool is created on first use (forkserver processes
that import `preload` once) and closed with the app; if a worker dies the pool is replaced and
the calls in flight fail with `BrokenProcessPool`. (Interface shared by the large-body path,
bodies.py, where the admission of bytes in flight and the size threshold live, and document
extraction.)
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

T = TypeVar("T")

PRELOAD = ("gateway.prepare",)


class Offloader:
    def __init__(self, *, workers: int = 2, preload: Sequence[str] = PRELOAD) -> None:
        self._workers = max(1, workers)
        self._preload = list(preload)
        self._pool: ProcessPoolExecutor | None = None

    @property
    def workers(self) -> int:
        return self._workers

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(self._preload)
            self._pool = ProcessPoolExecutor(max_workers=self._workers, mp_context=context)
        return self._pool

    async def run(self, fn: Callable[..., T], /, *args: object) -> T:
        loop = asyncio.get_running_loop()
        pool = self._executor()
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
