"""Graceful behaviour of real processes (issue 6, "Graceful behaviour"):

- SIGTERM on a gateway: the listener closes at once (no new connection), a stream in flight
  finishes, its lease is released, the process exits 0; past `GATEWAY_SHUTDOWN_GRACE` a stream is
  cut and its lease still released at once (not by TTL).
- NATS down: 529 / 503 in the client's shape within seconds, never a hang; served again after.
- Redis restarted: no request fails once the broker is ready again (stale pooled connections
  are replaced, regression for redis-py's `from_url` giving connections no retry).
- A stream the client read to the end is released as a success, not as a disconnect.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest

from kiro_testing.chaos.deployment import ADMIN_KEY, CLIENT_KEY, cluster_config
from kiro_testing.chaos.ledger import scan_for_secrets
from kiro_testing.chaos.load import gauge
from kiro_testing.polling import apoll
from kiro_testing.processes import refuses_connections
from kiro_testing.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEADLINE_S = 15.0
HEADERS = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}  # /metrics on the gateway's own port


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = cluster_config(gateways=1, brokers=1, accounts=2, lease_ttl_s=60.0, shutdown_grace_s=20.0)
    with Stack(tmp_path_factory.mktemp("graceful"), config) as c:
        yield c


@pytest.fixture
async def http(cluster: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=cluster.gateway_url(0), timeout=DEADLINE_S * 2, trust_env=False
    ) as client:
        yield client


def _body(text: str, stream: bool) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


async def _in_flight(cluster: Stack) -> int:
    return (await cluster.pool_status()).in_flight


async def _ok(http: httpx.AsyncClient) -> bool:
    try:
        response = await http.post("/v1/messages", headers=HEADERS, json=_body("ping", False))
    except httpx.TransportError:
        return False
    return response.status_code == 200


async def _restart_gateway(cluster: Stack, grace: str) -> None:
    cluster.gateways[0].env["GATEWAY_SHUTDOWN_GRACE"] = grace
    if cluster.gateways[0].running:
        await asyncio.to_thread(cluster.stop_gateway, 0)
    await asyncio.to_thread(cluster.start_gateway, 0)


async def _slow_stream(http: httpx.AsyncClient, delay: float, started: asyncio.Event) -> list[str]:
    text = "graceful stream " * 4 + f'<<sim:{{"event_delay":{delay}}}>>'
    lines: list[str] = []
    async with http.stream("POST", "/v1/messages", headers=HEADERS, json=_body(text, True)) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            lines.append(line)
            if line.startswith("event: content_block_delta"):
                started.set()
    return lines


async def test_sigterm_lets_the_stream_finish_and_exits_zero(cluster: Stack, http: httpx.AsyncClient) -> None:
    await _restart_gateway(cluster, "20s")
    started = asyncio.Event()
    stream = asyncio.create_task(_slow_stream(http, 0.05, started))
    await asyncio.wait_for(started.wait(), DEADLINE_S)
    process = cluster.gateways[0]
    assert process.proc is not None
    proc = process.proc
    process.signal(signal.SIGTERM)
    await apoll(
        lambda: refuses_connections(cluster.gateway_ports[0]),
        message="listener closed after SIGTERM",
        within=3.0,
    )
    lines = await asyncio.wait_for(stream, DEADLINE_S * 2)
    assert any(line.startswith("event: message_stop") for line in lines), lines[-5:]
    code = await asyncio.to_thread(proc.wait, DEADLINE_S)
    assert code == 0
    await apoll(lambda: _released(cluster), message="leases released", within=DEADLINE_S)
    process.kill()  # closes the log handle; the process has already exited
    await _restart_gateway(cluster, "20s")
    assert await _ok(http)


async def _released(cluster: Stack) -> bool:
    return await _in_flight(cluster) == 0


async def test_sigterm_past_the_grace_cuts_the_stream_and_releases_its_lease(
    cluster: Stack, http: httpx.AsyncClient
) -> None:
    await _restart_gateway(cluster, "1s")
    started = asyncio.Event()
    stream = asyncio.create_task(_slow_stream(http, 0.5, started))  # about 30 s of frames
    await asyncio.wait_for(started.wait(), DEADLINE_S)
    process = cluster.gateways[0]
    assert process.proc is not None
    proc = process.proc
    process.signal(signal.SIGTERM)
    with pytest.raises(httpx.TransportError):
        await asyncio.wait_for(stream, DEADLINE_S)
    assert await asyncio.to_thread(proc.wait, DEADLINE_S) == 0
    await apoll(lambda: _released(cluster), message="lease released (not by its 60 s TTL)", within=5.0)
    process.kill()
    await _restart_gateway(cluster, "20s")


async def test_a_stream_read_to_the_end_is_not_a_disconnect(cluster: Stack, http: httpx.AsyncClient) -> None:
    before = gauge((await http.get("/metrics", headers=ADMIN)).text, "gateway_client_disconnects_total")
    for _ in range(5):
        started = asyncio.Event()
        lines = await _slow_stream(http, 0.0, started)
        assert any(line.startswith("event: message_stop") for line in lines)
    await apoll(lambda: _released(cluster), message="leases released", within=DEADLINE_S)
    after = gauge((await http.get("/metrics", headers=ADMIN)).text, "gateway_client_disconnects_total")
    assert after == before


async def test_nats_down_answers_quickly_in_shape_then_serves_again(
    cluster: Stack, http: httpx.AsyncClient
) -> None:
    await asyncio.to_thread(cluster.kill_nats)
    try:
        for path, body, status, kind in (
            ("/v1/messages", _body("hi", False), 529, "overloaded_error"),
            (
                "/v1/chat/completions",
                {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]},
                503,
                "service_unavailable",
            ),
        ):
            started = time.monotonic()
            response = await http.post(
                path, headers={**HEADERS, "authorization": f"Bearer {CLIENT_KEY}"}, json=body
            )
            assert time.monotonic() - started < 5.0
            assert response.status_code == status
            assert response.headers.get("retry-after")
            assert orjson.loads(response.content)["error"]["type"] == kind
        assert (await http.get("/readyz")).status_code == 503
    finally:
        await asyncio.to_thread(cluster.start_nats)
    await apoll(lambda: _ok(http), message="served again after NATS is back", within=30.0)


async def test_no_failure_after_a_redis_restart_once_the_broker_is_ready(
    cluster: Stack, http: httpx.AsyncClient
) -> None:
    # several pooled Redis connections in the broker
    assert all(await asyncio.gather(*(_ok(http) for _ in range(8))))
    await asyncio.to_thread(cluster.kill_redis)
    await asyncio.to_thread(cluster.start_redis)

    async def broker_ready() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2.0, trust_env=False) as probe:
                return (await probe.get(f"{cluster.broker_url(0)}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    await apoll(broker_ready, message="broker ready after the Redis restart", within=30.0)
    for _ in range(3):
        results = await asyncio.gather(*(_ok(http) for _ in range(8)))
        assert all(results), results


def test_the_cluster_logs_hold_no_secrets(cluster: Stack) -> None:
    known = [CLIENT_KEY] + [str(a.get("refresh_token")) for a in cluster.sim.accounts()]
    logs = {k: v for k, v in cluster.logs().items() if not k.startswith("kiro-sim")}
    assert scan_for_secrets(logs, known) == []
