"""kiro_service.tasks: background tasks stop, their cleanup runs, the caller is not cancelled."""

from __future__ import annotations

import asyncio

from kiro_service.tasks import cancel_all, cancel_and_wait


async def test_cancel_and_wait_runs_the_cleanup_and_skips_none() -> None:
    cleaned: list[str] = []

    async def worker(name: str) -> None:
        try:
            await asyncio.sleep(60)
        finally:
            cleaned.append(name)

    a = asyncio.create_task(worker("a"))
    b = asyncio.create_task(worker("b"))
    await asyncio.sleep(0)
    await cancel_and_wait(a, None, b)
    assert sorted(cleaned) == ["a", "b"] and a.cancelled() and b.cancelled()
    await cancel_and_wait(None)  # nothing to do


async def test_cancel_all_leaves_finished_tasks_alone() -> None:
    done = asyncio.create_task(asyncio.sleep(0, result=7))
    await done
    running = asyncio.create_task(asyncio.sleep(60))
    await cancel_all([done, running])
    assert done.result() == 7 and running.cancelled()
