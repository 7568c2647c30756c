"""Against a real uvicorn server (thread, free port): chunked transfer with random chunks, peak
concurrency, cut connections, client disconnects; and `python -m kiro_sim` as a process."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sim_helpers import SimClient, decode, interpret, simple_request

from kiro_sim import DEMO_REFRESH_TOKEN, SimSettings, create_app
from kiro_testing import PythonService, free_port
from kiroproto.errors import TruncatedFrameError
from kiroproto.eventstream import EventStreamDecoder


@pytest.fixture
def live_url() -> Iterator[str]:
    app = create_app(SimSettings(_env_file=None))
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="kiro-sim-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
async def live(live_url: str) -> AsyncIterator[SimClient]:
    async with httpx.AsyncClient(base_url=live_url, timeout=10) as http:
        yield SimClient(http)


async def wait_for(sim: SimClient, predicate: Any, within: float = 5.0) -> dict[str, Any]:
    """Poll the stats until `predicate(stats)` holds (no fixed sleeps)."""
    deadline = time.monotonic() + within
    while True:
        stats = await sim.stats()
        if predicate(stats):
            return stats
        assert time.monotonic() < deadline, f"condition not reached; stats: {stats['totals']}"
        await asyncio.sleep(0.01)


async def stream_raw(sim: SimClient, token: str, body: dict[str, Any]) -> tuple[list[bytes], bytes]:
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    chunks: list[bytes] = []
    async with sim.http.stream("POST", "/generateAssistantResponse", json=body, headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["transfer-encoding"] == "chunked"
        async for chunk in r.aiter_raw():
            chunks.append(chunk)
    return chunks, b"".join(chunks)


async def test_random_chunking_reassembles_over_real_http(live: SimClient) -> None:
    _, token = await live.account_with_token(id="a1")
    body = simple_request('<<sim:{"text_length": 3000, "seed": 7}>>')
    _, random_bytes = await stream_raw(live, token, body)
    frame_body = simple_request('<<sim:{"text_length": 3000, "seed": 7, "chunking": "frame"}>>')
    _, frame_bytes = await stream_raw(live, token, frame_body)
    assert interpret(decode(random_bytes)).text == interpret(decode(frame_bytes)).text
    assert len(interpret(decode(random_bytes)).text) == 3000
    decoder = EventStreamDecoder()
    for byte in random_bytes:  # one byte at a time gives the same messages
        decoder.feed(bytes([byte]))
    assert [m.payload for m in decoder] == [m.payload for m in decode(random_bytes)]


async def test_peak_concurrency_per_token(live: SimClient) -> None:
    _, token_a = await live.account_with_token(id="a1")
    token_b = await live.access_token("a1")
    await live.script(account_id="a1", mode="sticky", script={"hold": "gate", "text": "ok"})

    async def one(token: str) -> str:
        r = await live.chat(simple_request(), token)
        return interpret(decode(r.content)).text

    tasks = [asyncio.ensure_future(one(t)) for t in (token_a, token_a, token_a, token_b)]
    stats = await wait_for(live, lambda s: s["holds"].get("gate") == 4)
    assert stats["access_tokens"][token_a]["open_streams"] == 3
    assert stats["access_tokens"][token_b]["open_streams"] == 1
    await live.http.post("/_sim/holds/gate/release")
    assert await asyncio.gather(*tasks) == ["ok"] * 4
    stats = await live.stats()
    assert stats["access_tokens"][token_a]["peak_open_streams"] == 3
    assert stats["access_tokens"][token_b]["peak_open_streams"] == 1
    assert stats["accounts"]["a1"]["peak_open_streams"] == 4
    assert stats["totals"]["open_streams"] == 0 and stats["totals"]["completed_streams"] == 4


async def test_cut_connection_after_n_events(live: SimClient) -> None:
    _, token = await live.account_with_token(id="a1")
    body = simple_request('<<sim:{"text": "abcdefghijklmnop", "fragment_max": 2, "cut_after": 3}>>')
    received: list[bytes] = []
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    with pytest.raises(httpx.RemoteProtocolError):
        async with live.http.stream("POST", "/generateAssistantResponse", json=body, headers=headers) as r:
            assert r.status_code == 200
            async for chunk in r.aiter_raw():
                received.append(chunk)
    assert len(decode(b"".join(received))) == 3
    stats = await wait_for(live, lambda s: s["totals"]["open_streams"] == 0)
    assert stats["accounts"]["a1"]["cut_connections"] == 1
    assert stats["accounts"]["a1"]["credits_charged"] == 0
    # the connection pool recovers: the next request works
    assert (await live.chat(simple_request(), token)).status_code == 200


async def test_cut_inside_a_frame(live: SimClient) -> None:
    _, token = await live.account_with_token(id="a1")
    body = simple_request(
        '<<sim:{"text": "abcdef", "fragment_max": 1, "cut_after": 2, "cut_partial_bytes": 20}>>'
    )
    received: list[bytes] = []
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    with pytest.raises(httpx.RemoteProtocolError):
        async with live.http.stream("POST", "/generateAssistantResponse", json=body, headers=headers) as r:
            async for chunk in r.aiter_raw():
                received.append(chunk)
    decoder = EventStreamDecoder()
    decoder.feed(b"".join(received))
    assert len(list(decoder)) == 2
    with pytest.raises(TruncatedFrameError):
        decoder.close()


async def test_client_disconnect_is_counted(live: SimClient) -> None:
    _, token = await live.account_with_token(id="a1")
    body = simple_request('<<sim:{"text_length": 400, "event_delay": 0.01, "chunking": "frame"}>>')
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    async with live.http.stream("POST", "/generateAssistantResponse", json=body, headers=headers) as r:
        async for _chunk in r.aiter_raw():
            break  # read one chunk, then walk away
    stats = await wait_for(live, lambda s: s["accounts"]["a1"]["disconnects"] == 1)
    assert stats["totals"]["open_streams"] == 0
    assert stats["accounts"]["a1"]["completed_streams"] == 0


async def test_first_byte_delay(live: SimClient) -> None:
    _, token = await live.account_with_token(id="a1")
    started = time.monotonic()
    r = await live.chat(simple_request('<<sim:{"first_byte_delay": 0.2, "text": "late"}>>'), token)
    assert time.monotonic() - started >= 0.2
    assert interpret(decode(r.content)).text == "late"


def test_python_dash_m_serves_the_demo_account(tmp_path: Path) -> None:
    port = free_port()
    service = PythonService(
        "kiro-sim",
        "kiro_sim",
        tmp_path,
        env={},
        health_url=f"http://127.0.0.1:{port}/healthz",
        args=["--port", str(port), "--seed-demo", "--log-level", "INFO"],
    )
    service.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            assert http.get("/healthz").json() == {"status": "ok"}
            assert http.get("/readyz").json() == {"status": "ready"}  # CONTRACTS.md shape
            tokens = http.post("/refreshToken", json={"refreshToken": DEMO_REFRESH_TOKEN}).json()
            r = http.post(
                "/generateAssistantResponse",
                json=simple_request("hi"),
                headers={"authorization": f"Bearer {tokens['accessToken']}"},
            )
            assert interpret(decode(r.content)).text == "Echo: hi"
    finally:
        code = service.stop()
    assert code == 0  # SIGTERM: drained, exit 0
    log = service.read_log()
    assert "kiro-sim listening" in log
    assert DEMO_REFRESH_TOKEN not in log and tokens["accessToken"] not in log
