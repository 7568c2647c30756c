"""Prometheus plumbing every service shares: the exposition body (multiprocess-aware), the
build-info gauge, bounded label values (`BoundedLabel`), and `ServiceMetrics`: the collectors of a
service that serves HTTP and talks to NATS and Redis (HTTP requests, NATS connection state, NATS
request and Redis command latency and errors). Each service declares its own collectors beside
them, on a registry made in `create_app`. (Redis commands are timed by `redisconn.TimedRedis`.)
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from kiro_service.bus import BusError
from kiroproto.bus import Endpoint

GaugeMode = Literal[
    "all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent", "livemostrecent"
]
_BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def render_metrics(registry: CollectorRegistry) -> bytes:
    """The exposition text; with PROMETHEUS_MULTIPROC_DIR set, every worker process merged."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        merged = CollectorRegistry()
        MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return generate_latest(merged)
    return generate_latest(registry)


def build_info(name: str, registry: CollectorRegistry, version: str) -> Gauge:
    """`<name>` = 1 with the build's version and Python version as labels."""
    gauge = Gauge(
        name,
        "Always 1; the labels say which build runs",
        ["version", "python"],
        registry=registry,
        multiprocess_mode="max",
    )
    gauge.labels(version, platform.python_version()).set(1)
    return gauge


class Collectors:
    """Declares the collectors of one service on one registry: each name is `<prefix>_<name>`;
    histograms without their own buckets get `buckets`, gauges without their own multiprocess
    mode get `gauge_mode` (how several workers' values merge)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        prefix: str,
        *,
        buckets: Sequence[float] = _BUCKETS,
        gauge_mode: GaugeMode = "all",
    ) -> None:
        self.registry = registry
        self.prefix = prefix
        self.buckets = tuple(buckets)
        self.gauge_mode = gauge_mode

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(f"{self.prefix}_{name}", documentation, labels, registry=self.registry)

    def gauge(
        self, name: str, documentation: str, labels: Sequence[str] = (), *, mode: GaugeMode | None = None
    ) -> Gauge:
        return Gauge(
            f"{self.prefix}_{name}",
            documentation,
            labels,
            registry=self.registry,
            multiprocess_mode=mode or self.gauge_mode,
        )

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        *,
        buckets: Sequence[float] | None = None,
    ) -> Histogram:
        return Histogram(
            f"{self.prefix}_{name}",
            documentation,
            labels,
            registry=self.registry,
            buckets=self.buckets if buckets is None else tuple(buckets),
        )


class TimedCalls:
    """A latency histogram and a failure counter of one kind of call (NATS requests, Redis
    commands), over one label; `duration` and `errors` are each collector's (name, help)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        label: str,
        *,
        duration: tuple[str, str],
        errors: tuple[str, str],
        buckets: Sequence[float] = _BUCKETS,
    ) -> None:
        self.duration = Histogram(*duration, [label], buckets=tuple(buckets), registry=registry)
        self.errors = Counter(*errors, [label], registry=registry)

    def observe(self, value: str, seconds: float, failed: bool) -> None:
        self.duration.labels(value).observe(seconds)
        if failed:
            self.errors.labels(value).inc()


class ServiceMetrics:
    """`<service>_build_info`, `_http_requests_total{route,status}`, `_nats_connected`,
    `_nats_request_duration_seconds{call}`, `_nats_errors_total{call}`,
    `_redis_command_duration_seconds{command}`, `_redis_errors_total{command}` on `registry`
    (a fresh one when not given). A service subclasses it to add its own collectors, declared
    through `collectors` (named `<service>_...`)."""

    def __init__(
        self, service: str, registry: CollectorRegistry | None = None, version: str = "0.1.0"
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.build_info = build_info(f"{service}_build_info", self.registry, version)
        self.collectors = Collectors(self.registry, service)  # for the service's own collectors
        self.http_requests = self.collectors.counter(
            "http_requests_total", "HTTP requests served", ["route", "status"]
        )
        self.nats_connected = self.collectors.gauge("nats_connected", "1 while connected to NATS")
        self.nats = TimedCalls(
            self.registry,
            "call",
            duration=(
                f"{service}_nats_request_duration_seconds",
                "NATS request-reply round trips to the broker, by subject kind",
            ),
            errors=(f"{service}_nats_errors_total", "NATS requests without a usable reply, by subject kind"),
        )
        self.redis = TimedCalls(
            self.registry,
            "command",
            duration=(f"{service}_redis_command_duration_seconds", "Redis commands, by command"),
            errors=(f"{service}_redis_errors_total", "Failed Redis commands, by command"),
        )
        self.observe_redis = self.redis.observe  # (command, seconds, failed)

    def observe_bus(self, endpoint: Endpoint[Any, Any], seconds: float, error: BusError | None) -> None:
        """The bus client's observer; `call` is the endpoint's subject suffix (`usage.query`)."""
        self.nats.observe(endpoint.suffix, seconds, error is not None)


class BoundedLabel:
    """Values of a label taken from an open set (team names): the first `limit` distinct values
    seen by this process are kept, later ones read `overflow`, so the series stay bounded."""

    def __init__(self, limit: int, overflow: str = "other") -> None:
        self.limit = limit
        self.overflow = overflow
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self.limit:
            return self.overflow
        self._seen.add(value)
        return value
