"""The live feed and the traffic history: server-sent events fed by NATS and Redis, counted once
across replicas, surviving a restart of the dashboard."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import nats
import pytest
import uvicorn
from dashboard_testkit import ADMIN_TOKEN, FakeBroker

from dashboard import Settings, create_app
from kiro_service.serve import GracefulServer
from kiro_testing import free_port
from kiro_testing.inloop import serve
from kiroproto.bus import CredentialEvent, CredentialStatusKind, Subjects, TrafficReport
from kiroproto.traffic import FinishedRequest, TrafficTally

BEARER = {"authorization": f"Bearer {ADMIN_TOKEN}"}


async def _events(resp: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    event = None
    async for line in resp.aiter_lines():
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: ") and event is not None:
            yield event, json.loads(line[len("data: ") :])
            event = None


async def _wait_for(
    stream: AsyncIterator[tuple[str, Any]], want: str, predicate: Any, within: float = 10.0
) -> Any:
    async def scan() -> Any:
        async for event, data in stream:
            if event == want and predicate(data):
                return data
        raise AssertionError("stream ended")

    return await asyncio.wait_for(scan(), within)


def _request(**changes: Any) -> FinishedRequest:
    base: dict[str, Any] = {
        "at": time.time(),
        "api": "anthropic",
        "model": "claude-sonnet-4-5",
        "status": 200,
        "stream": True,
        "duration_ms": 300.0,
        "ttft_ms": 50.0,
        "input_tokens": 10,
        "output_tokens": 20,
        "credential_id": "cred-a",
    }
    base.update(changes)
    return FinishedRequest(**base)


def _report(*requests: FinishedRequest) -> bytes:
    """What a gateway replica publishes on `events_traffic` for these finished requests."""
    tally = TrafficTally()
    for request in requests:
        tally.add(request)
    return TrafficReport(replica="gw-test", seconds=tally.take()).model_dump_json().encode()


async def test_pool_credential_and_traffic_events(
    dashboard_url: str, settings: Settings, broker: FakeBroker
) -> None:
    subjects = Subjects(settings.kiro_bus_namespace)
    nc = await nats.connect(settings.nats_url)
    try:
        async with httpx.AsyncClient(base_url=dashboard_url, headers=BEARER, timeout=20) as client:
            async with client.stream("GET", "/api/events") as resp:
                assert resp.status_code == 200
                assert resp.headers["content-type"].startswith("text/event-stream")
                stream = _events(resp)
                pool = await _wait_for(stream, "pool", lambda d: d["ok"])
                assert [c["id"] for c in pool["pool"]["credentials"]] == ["cred-a", "cred-b"]

                # a broker event reaches the page at once, then a fresh pool follows
                broker.creds["cred-a"] = broker.creds["cred-a"].model_copy(
                    update={"status": CredentialStatusKind.INVALID, "reason": "refresh token revoked"}
                )
                event = CredentialEvent(
                    credential_id="cred-a",
                    status=CredentialStatusKind.INVALID,
                    reason="refresh token revoked",
                    at=time.time(),
                )
                await nc.publish(subjects.events_credential, event.model_dump_json().encode())
                got = await _wait_for(stream, "credential", lambda d: d["credential_id"] == "cred-a")
                assert got["status"] == "invalid"
                await _wait_for(stream, "pool", lambda d: d["pool"]["credentials"][0]["status"] == "invalid")

                # a gateway's traffic report becomes traffic counters and per-credential hour counts
                requests = [
                    _request(status=status, error_type="overloaded_error" if status >= 400 else None)
                    for status in (200, 200, 529)
                ]
                await nc.publish(subjects.events_traffic, _report(*requests))
                traffic = await _wait_for(stream, "traffic", lambda d: d["totals"]["requests"] >= 3)
                assert traffic["totals"]["errors"] == 1
                assert traffic["credentials"]["cred-a"] == {"requests": 3, "errors": 1}
                assert traffic["models"]["claude-sonnet-4-5"]["total_requests"] == 3
                assert len(traffic["times"]) == 120 and traffic["bucket_s"] == 30
                await _wait_for(
                    stream, "pool", lambda d: d["last_hour"].get("cred-a", {}).get("requests") == 3
                )
    finally:
        await nc.drain()


async def test_traffic_reports_are_counted_once_across_replicas_and_survive_restart(
    settings: Settings, broker: FakeBroker
) -> None:
    subjects = Subjects(settings.kiro_bus_namespace)
    nc = await nats.connect(settings.nats_url)
    try:
        async with serve(create_app(settings)), serve(create_app(settings)) as second:
            await nc.flush()
            for _ in range(20):
                await nc.publish(subjects.events_traffic, _report(_request()))
            await nc.flush()
            async with httpx.AsyncClient(base_url=second, headers=BEARER) as client:
                deadline = time.monotonic() + 10
                while True:
                    totals = (await client.get("/api/traffic")).json()["totals"]
                    if totals["requests"] >= 20 or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.05)
                assert totals["requests"] == 20
                await asyncio.sleep(0.3)  # a double count would show up by now
                assert (await client.get("/api/traffic")).json()["totals"]["requests"] == 20
        # both replicas are gone; a new one reads the same history from Redis
        async with serve(create_app(settings)) as fresh:
            async with httpx.AsyncClient(base_url=fresh, headers=BEARER) as client:
                body = (await client.get("/api/traffic")).json()
                assert body["totals"]["requests"] == 20
                assert body["totals"]["latency_ms"]["p50"] is not None
    finally:
        await nc.drain()


async def test_malformed_events_are_ignored(dashboard_url: str, settings: Settings) -> None:
    subjects = Subjects(settings.kiro_bus_namespace)
    nc = await nats.connect(settings.nats_url)
    try:
        await nc.publish(subjects.events_traffic, b"{not json")
        await nc.publish(subjects.events_credential, b"[]")
        await nc.publish(subjects.events_traffic, _report(_request()))
        await nc.flush()
        async with httpx.AsyncClient(base_url=dashboard_url, headers=BEARER) as client:
            deadline = time.monotonic() + 10
            while (await client.get("/api/traffic")).json()["totals"]["requests"] < 1:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            metrics = (await client.get("/metrics")).text
        assert 'dashboard_request_events_total{result="malformed"} 1.0' in metrics
    finally:
        await nc.drain()


async def test_broker_down_shows_a_banner_not_an_error(settings: Settings) -> None:
    # no FakeBroker: nobody answers pool_status
    settings = settings.model_copy(update={"dashboard_broker_timeout": 0.3})
    async with serve(create_app(settings)) as url:
        async with httpx.AsyncClient(base_url=url, headers=BEARER) as client:
            page = await client.get("/")
            assert page.status_code == 200 and "token-broker unavailable" in page.text
            tokens = await client.get("/api/tokens")
            assert tokens.status_code == 503


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signal handlers need the main thread"
)
async def test_sigterm_ends_live_streams_at_once(settings: Settings, broker: FakeBroker) -> None:
    # the server `__main__` runs (kiro_service.serve), in this loop, and a real SIGTERM to this process
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_config=None, timeout_graceful_shutdown=5
    )
    server = GracefulServer(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 15
    while not server.started:
        assert not task.done() and time.monotonic() < deadline, "the server did not start"
        await asyncio.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, headers=BEARER, timeout=20) as client:
        async with client.stream("GET", "/api/events") as resp:
            stream = _events(resp)
            await _wait_for(stream, "pool", lambda d: d["ok"])
            started = time.monotonic()
            signal.raise_signal(signal.SIGTERM)  # readiness off, then the drain: live streams end at once

            async def drain() -> None:
                async for _ in stream:
                    pass

            await asyncio.wait_for(drain(), 5)
            assert time.monotonic() - started < 5
    await asyncio.wait_for(task, 10)
    assert server.started
