"""The fuzz suites' stack: a real gateway (and broker, NATS, Redis, simulator) with a working
simulator credential, so that valid requests succeed and only bad input is refused.

The body limit is lowered to 2 MB (`GATEWAY_MAX_BODY_BYTES`) so that the 413 path is exercised
without pushing 100 MB bodies through loopback thousands of times.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from kiro_testing.chaos.deployment import cluster_config
from kiro_testing.stack import Stack

BODY_LIMIT = 2_000_000


def examples(default: int) -> int:
    """Examples per fuzz test: `FUZZ_SCALE` (default 1) multiplies the `make test` sizes."""
    return max(1, int(default * float(os.environ.get("FUZZ_SCALE", "1"))))


@pytest.fixture(scope="session")
def fuzz_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = cluster_config(
        gateways=1,
        brokers=1,
        accounts=2,
        rotate_refresh=False,
        pool_max_size=8,
        log_level="WARN",
        gateway_env={"GATEWAY_MAX_BODY_BYTES": str(BODY_LIMIT)},
    )
    with Stack(tmp_path_factory.mktemp("fuzz"), config) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def gateway_url(fuzz_cluster: Stack) -> str:
    return fuzz_cluster.gateway_url(0)


@pytest.fixture(scope="session")
def http(gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_url, timeout=httpx.Timeout(20.0), trust_env=False) as client:
        yield client


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from .oracle import SEEN

    if SEEN:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(SEEN.items()))
        terminalreporter.write_line(f"fuzz: answers checked by status ({statuses})")
