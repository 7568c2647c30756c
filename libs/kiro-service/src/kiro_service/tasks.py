"""Stopping background tasks: cancel, then wait until they have run their cleanup."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Task[Any] | asyncio.Future[Any] | None) -> None:
    """Cancel each task (None is skipped) and wait for all of them to end. A task's own
    `CancelledError` is absorbed; the caller's cancellation is not."""
    await cancel_all(task for task in tasks if task is not None)


async def cancel_all(tasks: Iterable[asyncio.Task[Any] | asyncio.Future[Any]]) -> None:
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task
