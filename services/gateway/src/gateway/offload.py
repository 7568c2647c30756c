"""CPU-heavy work off the event loop: a bounded pool of worker processes.

`json`, orjson, pydantic, pypdf and the tokenizer hold the GIL while they work, so threads do
not keep the loop free; worker processes do. `Offloader.run(fn, *args)` runs a picklable,
module-level function in a worker and awaits its result. The pool is created on first use and
closed with the app. (Interface shared by the large-body path and document extraction; the
admission of bytes in flight and the size threshold live beside it.)
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

T = TypeVar("T")


class Offloader:
    def __init__(self, *, workers: int = 2) -> None:
        self._workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                self._pool = ProcessPoolExecutor(max_workers=self._workers, mp_context=context)
            return self._pool

    def _start(self) -> None:
        self._executor().submit(int).result()

    async def run(self, fn: Callable[..., T], /, *args: object) -> T:
        loop = asyncio.get_running_loop()
        if self._pool is None:
            # The first submit starts the fork server and a worker (~0.4 s, measured): in a
            # thread, so that the event loop keeps serving meanwhile.
            await asyncio.to_thread(self._start)
        pool = self._executor()
        try:
            return await loop.run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            # A worker died (a native library crashed on hostile input, or it was killed): the
            # pool is unusable from now on, so the next call gets a new one.
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
