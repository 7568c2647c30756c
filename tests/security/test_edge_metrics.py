"""Finding 8 (issue 9): `/metrics` on the public origin was readable without a key and named the
teams; `/api/../metrics` and `/metrics/` reached the dashboard's own metrics. Now every service's
`/metrics` on its own (public-facing) port needs the admin key, and the keyless exposition for
Prometheus is on each service's separate metrics port (`<SERVICE>_METRICS_PORT`, loopback here).
Real gateway, dashboard and oauth processes, real NATS and Redis (`tests/integration/origin.py`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kiro_testing import NatsServer, RedisServer, free_port
from kiro_testing.stack import CLIENT_TOKEN
from tests.integration.origin import ADMIN, Origin, edge_origin, raw_request

pytestmark = pytest.mark.integration
TEAM = f"secret-team-{uuid.uuid4().hex[:8]}"
PORTS = {"gateway": free_port(), "dashboard": free_port(), "oauth": free_port()}


@pytest.fixture(scope="module")
def stack(log_dir: Path, nats_server: NatsServer, redis_server: RedisServer) -> Iterator[Origin]:
    with edge_origin(
        log_dir / "edge-metrics",
        nats_url=nats_server.url,
        redis_url=redis_server.url,
        gateway_env={"GATEWAY_METRICS_PORT": str(PORTS["gateway"])},
        dashboard_env={"DASHBOARD_METRICS_PORT": str(PORTS["dashboard"])},
        oauth_env={"OAUTH_METRICS_PORT": str(PORTS["oauth"])},
    ) as s:
        with s.client() as http:
            created = http.post("/api/keys", json={"team": TEAM, "name": "m"}, headers=ADMIN)
            assert created.status_code == 201, created.text
            secret = created.json()["secret"]
            body = {
                "model": "claude-sonnet-4-6",
                "max_tokens": 8,
                "messages": [{"role": "user", "content": "hi"}],
            }
            assert http.post("/v1/messages", json=body, headers={"x-api-key": secret}).status_code == 200
        yield s


def test_public_metrics_need_the_admin_key(stack: Origin) -> None:
    with stack.client() as http:
        for headers in ({}, {"authorization": f"Bearer {CLIENT_TOKEN}"}, {"x-api-key": CLIENT_TOKEN}):
            r = http.get("/metrics", headers=headers)
            assert r.status_code == 401, r.text
            assert TEAM not in r.text
        admin = http.get("/metrics", headers=ADMIN)
        assert admin.status_code == 200 and f'team="{TEAM}"' in admin.text


@pytest.mark.parametrize(
    "path",
    [b"/metrics/", b"/api/../metrics", b"/api/%2e%2e/metrics", b"/static/../metrics", b"/oauth/../metrics"],
)
def test_no_path_on_the_public_origin_reaches_a_services_metrics(stack: Origin, path: bytes) -> None:
    answer = raw_request(stack.port, b"GET " + path + b" HTTP/1.1\r\nhost: x")
    assert b" 200 " not in answer.split(b"\r\n", 1)[0]
    assert b"# TYPE" not in answer and TEAM.encode() not in answer


@pytest.mark.parametrize("service", ["dashboard", "oauth"])
def test_admin_services_own_ports_need_the_key_too(stack: Origin, service: str) -> None:
    port = stack.dashboard_port if service == "dashboard" else stack.oauth_port
    r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10.0)
    assert r.status_code == 401 and "# TYPE" not in r.text
    r = httpx.get(f"http://127.0.0.1:{port}/metrics", headers=ADMIN, timeout=10.0)
    assert r.status_code == 200 and f"{service}_" in r.text


@pytest.mark.parametrize("service", ["gateway", "dashboard", "oauth"])
def test_prometheus_scrapes_the_separate_metrics_port_without_a_key(stack: Origin, service: str) -> None:
    r = httpx.get(f"http://127.0.0.1:{PORTS[service]}/metrics", timeout=10.0)
    assert r.status_code == 200
    assert "# TYPE" in r.text
    if service == "gateway":
        assert f'team="{TEAM}"' in r.text
    assert httpx.get(f"http://127.0.0.1:{PORTS[service]}/api/tokens", timeout=10.0).status_code == 404
