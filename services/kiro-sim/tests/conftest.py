"""Fixtures for the simulator's tests: an in-process app on a fake clock and its client."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest
from sim_helpers import FakeClock, SimClient
from starlette.applications import Starlette

from kiro_sim import SimSettings, create_app


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KIRO_SIM_"):
            monkeypatch.delenv(name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> SimSettings:
    return SimSettings(_env_file=None)


@pytest.fixture
def app(settings: SimSettings, clock: FakeClock) -> Starlette:
    return create_app(settings, clock=clock)


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim.test"
    ) as client:
        yield client


@pytest.fixture
def sim(http: httpx.AsyncClient) -> SimClient:
    return SimClient(http)
