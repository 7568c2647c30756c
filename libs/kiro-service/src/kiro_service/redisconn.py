"""The Redis client options of the services (`redis.asyncio`), once (`busconn` is NATS's).

- `CLIENT_OPTIONS`: string replies, 5 s socket and connect timeouts, a PING on a connection
  idle for 30 s before it is used;
- `command_retry()`: a pooled connection's dead socket is replaced and the command sent again,
  up to three times with a short jittered backoff. `from_url` gives connections no retry at
  all: after a Redis restart every pooled connection then failed its next command (a 529 for
  a client, seconds later; the chaos suite showed it for the broker);
- `timed_redis()`: a `TimedRedis`, whose single commands feed `ServiceMetrics.observe_redis`
  (label: the command name, a small fixed set); pipelines are not broken down.

Kept apart from `metrics`, so that a service without Redis (the gateway) never imports the client.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from kiro_service.metrics import ServiceMetrics

CLIENT_OPTIONS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "decode_responses": True,
        "socket_timeout": 5.0,
        "socket_connect_timeout": 5.0,
        "health_check_interval": 30,
    }
)


def command_retry() -> Retry:
    """A fresh retry policy (each client gets its own)."""
    return Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.25), 3)


class TimedRedis(Redis):
    """Redis whose single commands feed `ServiceMetrics.observe_redis` (set `metrics` after creation)."""

    metrics: ServiceMetrics | None = None

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        metrics = self.metrics
        if metrics is None:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        started = time.perf_counter()
        failed = True
        try:
            result = await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
            failed = False
            return result
        finally:
            command = str(args[0]).split(" ", 1)[0].upper() if args else "?"
            metrics.observe_redis(command, time.perf_counter() - started, failed)


def timed_redis(url: str, metrics: ServiceMetrics, **options: Any) -> Redis:
    """`Redis.from_url(url, **options)` with every single command timed; connections retry a
    command on a dead socket (`redisconn.command_retry`) unless `options` say otherwise."""
    options.setdefault("retry", command_retry())
    client = TimedRedis.from_url(url, **options)
    assert isinstance(client, TimedRedis)
    client.metrics = metrics
    return client
