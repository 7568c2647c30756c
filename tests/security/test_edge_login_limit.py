"""Finding 7, the login part (issue 9): `POST /api/login` is rate-limited per client address.
Failed attempts beyond `DASHBOARD_LOGIN_ATTEMPTS` get 429 with `retry-after`; the address is the
peer's unless the peer is in `FORWARDED_ALLOW_IPS`, so a client cannot pick a fresh address per
try by writing `x-forwarded-for` itself. Real gateway, dashboard and oauth processes, real NATS
and Redis (`tests/integration/origin.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kiro_testing import NatsServer, RedisServer
from kiro_testing.stack import ADMIN_TOKEN
from tests.integration.origin import Origin, edge_origin

pytestmark = pytest.mark.integration
ATTEMPTS = 5


@pytest.fixture(scope="module")
def stack(log_dir: Path, nats_server: NatsServer, redis_server: RedisServer) -> Iterator[Origin]:
    with edge_origin(
        log_dir / "edge-login",
        nats_url=nats_server.url,
        redis_url=redis_server.url,
        # The gateway is the edge here: it believes no x-forwarded-for; the dashboard believes
        # the gateway's (loopback), as under `make run`.
        gateway_env={"FORWARDED_ALLOW_IPS": ""},
        dashboard_env={
            "FORWARDED_ALLOW_IPS": "127.0.0.1",
            "DASHBOARD_LOGIN_ATTEMPTS": str(ATTEMPTS),
            "DASHBOARD_LOGIN_WINDOW": "120s",
        },
    ) as s:
        yield s


def login(http: httpx.Client, token: str, spoof: str | None = None) -> httpx.Response:
    headers = {"x-forwarded-for": spoof} if spoof else {}
    return http.post("/api/login", data={"token": token, "next": "/"}, headers=headers)


def test_failed_logins_through_the_public_port_are_limited_and_spoofing_does_not_help(
    stack: Origin,
) -> None:
    with stack.client() as http:
        assert login(http, ADMIN_TOKEN).status_code == 303  # a success is not counted
        for i in range(ATTEMPTS):
            r = login(http, "wrong-" + "x" * 20, spoof=f"192.0.2.{i + 1}")
            assert r.status_code == 401, (i, r.status_code)
        refused = login(http, "wrong-" + "x" * 20, spoof="192.0.2.200")
        assert refused.status_code == 429
        retry_after = int(refused.headers["retry-after"])
        assert 1 <= retry_after <= 120
        # While the address is blocked even the right key waits (no oracle for a guesser).
        assert login(http, ADMIN_TOKEN, spoof="192.0.2.201").status_code == 429


def test_a_trusted_proxys_client_address_is_counted_on_its_own(stack: Origin) -> None:
    dashboard = httpx.Client(base_url=f"http://127.0.0.1:{stack.dashboard_port}", timeout=30.0)
    with dashboard:
        # Another client behind the trusted proxy is not blocked by the first one's failures.
        assert login(dashboard, ADMIN_TOKEN, spoof="198.51.100.7").status_code == 303
        for _ in range(ATTEMPTS):
            assert login(dashboard, "wrong-" + "y" * 20, spoof="198.51.100.8").status_code == 401
        assert login(dashboard, "wrong-" + "y" * 20, spoof="198.51.100.8").status_code == 429
        assert login(dashboard, ADMIN_TOKEN, spoof="198.51.100.9").status_code == 303
