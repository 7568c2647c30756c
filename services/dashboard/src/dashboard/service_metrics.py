"""Metrics every admin service exports (the dashboard and the oauth service): build info, NATS
request latency and errors, Redis command latency and errors; and the `/metrics` body, which
merges every worker process when `PROMETHEUS_MULTIPROC_DIR` is set.

`TimedRedis` is a `redis.asyncio.Redis` whose single commands are timed (label: the command
name, a small fixed set); pipelines are not broken down.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from kiro_service import build_info
from kiro_service.bus import BusError
from kiroproto.bus import Endpoint

_BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServiceMetrics:
    def __init__(self, service: str, registry: CollectorRegistry, version: str = "0.1.0") -> None:
        self.build_info = build_info(f"{service}_build_info", registry, version)
        self.nats_duration = Histogram(
            f"{service}_nats_request_duration_seconds",
            "NATS request-reply round trips to the broker, by subject kind",
            ["call"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.nats_errors = Counter(
            f"{service}_nats_errors_total",
            "NATS requests without a usable reply, by subject kind",
            ["call"],
            registry=registry,
        )
        self.redis_duration = Histogram(
            f"{service}_redis_command_duration_seconds",
            "Redis commands, by command",
            ["command"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.redis_errors = Counter(
            f"{service}_redis_errors_total",
            "Failed Redis commands, by command",
            ["command"],
            registry=registry,
        )

    def observe_bus(self, endpoint: Endpoint[Any, Any], seconds: float, error: BusError | None) -> None:
        """The bus client's observer; `call` is the endpoint's subject suffix (`usage.query`)."""
        self.nats_duration.labels(endpoint.suffix).observe(seconds)
        if error is not None:
            self.nats_errors.labels(endpoint.suffix).inc()

    def observe_redis(self, command: str, seconds: float, failed: bool) -> None:
        self.redis_duration.labels(command).observe(seconds)
        if failed:
            self.redis_errors.labels(command).inc()


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
    """`Redis.from_url(url, **options)` with every single command timed.

    Connections retry a command on a dead socket (from_url gives them no retry: after a Redis
    restart every pooled connection would fail its next command, as the chaos suite showed
    for the broker)."""
    options.setdefault("retry", Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.25), 3))
    client = TimedRedis.from_url(url, **options)
    assert isinstance(client, TimedRedis)
    client.metrics = metrics
    return client
