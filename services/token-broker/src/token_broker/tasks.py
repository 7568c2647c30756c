"""A set of background tasks owned by the broker: strong references, logged failures,
cancel-all at shutdown, and a drain that waits for request handlers in flight; and
`OncePerCredential`, at most one such task per credential for one kind of work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskSet:
    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("background task %s failed", task.get_name(), exc_info=exc)

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, within_s: float) -> bool:
        """Wait for the running tasks; True when all finished in time."""
        if not self._tasks:
            return True
        _, pending = await asyncio.wait(set(self._tasks), timeout=within_s)
        return not pending

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


class OncePerCredential:
    """Background work of one kind (a refresh, a usage check, a catalogue fetch) with at most one
    task per credential: asking again while one runs does nothing. The `expected` errors end the
    task with an info line (`<what> did not complete`); anything else is logged by the TaskSet."""

    def __init__(self, tasks: TaskSet, what: str, expected: tuple[type[Exception], ...]) -> None:
        self._tasks = tasks
        self._what = what
        self._expected = expected
        self._running: set[str] = set()

    def start(self, cid: str, work: Callable[[], Awaitable[object]]) -> None:
        if cid in self._running:
            return
        self._running.add(cid)
        self._tasks.spawn(self._run(cid, work), name=f"{self._what}-{cid}")

    async def _run(self, cid: str, work: Callable[[], Awaitable[object]]) -> None:
        try:
            await work()
        except self._expected as exc:
            log.info("%s did not complete", self._what, extra={"credential": cid, "reason": str(exc)})
        finally:
            self._running.discard(cid)
