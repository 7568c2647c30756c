"""The broker's Lua scripts, registered once per Redis client (EVALSHA, re-loaded on NOSCRIPT).

Each `.lua` file documents its KEYS, ARGV and reply. Every multi-key change of the broker
goes through one of these, so it is atomic across broker replicas.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

_NAMES = ("acquire", "release", "renew", "insert", "patch", "delete", "unlock", "admit", "usage")


def _source(name: str) -> str:
    return resources.files(__package__).joinpath(f"{name}.lua").read_text(encoding="utf-8")


class Scripts:
    """Callable scripts bound to one client: `await scripts.run("acquire", keys, args)`."""

    def __init__(self, redis: Redis, observe: Callable[[str, float, bool], None] | None = None) -> None:
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(_source(name)) for name in _NAMES
        }
        self._observe = observe  # (script, seconds, failed): Redis latency and error metrics

    async def run(self, name: str, keys: Sequence[str], args: Sequence[str | int | float]) -> Any:
        if self._observe is None:
            return await self._scripts[name](keys=list(keys), args=list(args))
        started = time.perf_counter()
        failed = True
        try:
            result = await self._scripts[name](keys=list(keys), args=list(args))
            failed = False
            return result
        finally:
            self._observe(name, time.perf_counter() - started, failed)
