"""Tests that need real servers take them from the kit's pytest plugin
(`kiro_testing.pytest_plugin`: `nats_server`, `redis_server`, `own_nats`, `own_redis`, `sim`,
`kiro_sim`, `stacks`, `log_dir`), loaded for every run by the root `pyproject.toml`."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clean_environ(clean_environ: None) -> None:
    """No proxy or service variable from the developer's shell leaks into a test."""
