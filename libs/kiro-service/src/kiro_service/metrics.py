"""Prometheus plumbing every service shares: the exposition body (multiprocess-aware), the
build-info gauge and bounded label values. Each service declares its own collectors on a
registry made in `create_app`.
"""

from __future__ import annotations

import os
import platform

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector


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
