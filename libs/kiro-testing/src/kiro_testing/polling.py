"""Waiting for a condition without fixed sleeps: poll until truthy, fail after a deadline."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

DEADLINE_S = 5.0


def poll(
    check: Callable[[], T | None],
    *,
    timeout: float = DEADLINE_S,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Call `check` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        _give_up_after(deadline, timeout, message, value)
        time.sleep(interval)
    return value


async def apoll(
    check: Callable[[], Any],
    *,
    within: float = DEADLINE_S,
    interval: float = 0.05,
    message: str = "condition",
) -> Any:
    """`poll` for asyncio tests (`check` may return an awaitable)."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        _give_up_after(deadline, within, message, value)
        await asyncio.sleep(interval)


def _give_up_after(deadline: float, limit: float, message: str, value: object) -> None:
    if time.monotonic() > deadline:
        raise AssertionError(f"{message} not reached within {limit}s (last: {value!r})")
