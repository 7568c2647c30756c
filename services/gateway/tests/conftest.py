"""Gateway unit-test fixtures (helpers live in gw_helpers.py, fakes in gw_fakes.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from gw_helpers import make_settings, running_client


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with running_client(make_settings(gateway_ping_interval=0.5)) as c:
        yield c
