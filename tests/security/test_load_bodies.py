"""Finding 3: one large request froze a gateway process (parse, conversion and token counting
ran on the event loop: a 100 MB `/v1/messages` stalled `/healthz` for 21.7 s, a 50 MB
`count_tokens` for over 30 s). Now large bodies are prepared in worker processes: while a
~100 MB `/v1/messages` and a ~50 MB `count_tokens` are processed on one replica, `/healthz` and a
small streaming request on it answer within 1 s, and both big requests get their normal answers.
A budget of large-body bytes in flight answers 429 with retry-after beyond it, and only then.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest

from kiro_testing import NatsServer, RedisServer
from kiro_testing.sim import Sim, credential
from kiro_testing.stack import CLIENT_TOKEN, Stack, StackConfig
from tests.security.load_helpers import (
    MODEL,
    LoopProbe,
    big_messages_body,
    connect,
    post_big,
)

pytestmark = pytest.mark.integration

HEADERS = {"x-api-key": CLIENT_TOKEN, "content-type": "application/json", "anthropic-version": "2023-06-01"}
MARGIN_S = 1.0  # the margin for /healthz and a small stream during the big requests


@pytest.fixture(scope="module")
def sim(log_dir: Path) -> Iterator[Sim]:
    # The real upstream refuses bodies over ~600 KB (CONTENT_LENGTH_EXCEEDS_THRESHOLD: the gateway
    # answers 400 "prompt is too long"). This simulator takes Claude-Code-sized ones (32 MiB) and
    # refuses the 100 MB one by its size, before parsing it: its single loop is shared with the
    # small streams measured meanwhile, and the gateway's own work is the same either way.
    sim = Sim(log_dir / "load-bodies", env={"KIRO_SIM_BODY_LIMIT": str(32 * 1024 * 1024)})
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def pool(sim: Sim, log_dir: Path, nats_server: NatsServer, redis_server: RedisServer) -> Iterator[Stack]:
    with Stack(
        log_dir / "load-bodies",
        StackConfig(credentials=[credential(sim.add_account()) for _ in range(2)]),
        nats_url=nats_server.url,
        redis_url=redis_server.url,
        sim=sim,
    ) as pool:
        yield pool


@pytest.fixture(scope="module")
def capped(sim: Sim, log_dir: Path, nats_server: NatsServer, redis_server: RedisServer) -> Iterator[Stack]:
    """A replica with a small budget of large bodies in flight (4 MiB; large from 256 KiB)."""
    with Stack(
        log_dir / "load-cap",
        StackConfig(
            credentials=[credential(sim.add_account())],
            gateway_env={
                "GATEWAY_LARGE_BODY_INFLIGHT_BYTES": str(4 * 1024 * 1024),
                "GATEWAY_OFFLOAD_THRESHOLD_BYTES": str(256 * 1024),
            },
        ),
        nats_url=nats_server.url,
        redis_url=redis_server.url,
        sim=sim,
    ) as pool:
        yield pool


def small_stream_body() -> dict[str, object]:
    return {
        "model": MODEL,
        "max_tokens": 32,
        "stream": True,
        "messages": [{"role": "user", "content": "small while big"}],
    }


async def small_stream(client: httpx.AsyncClient, url: str) -> float:
    """A small streaming request; the time until its stream ended (message_stop)."""
    started = time.perf_counter()
    async with client.stream("POST", url + "/v1/messages", json=small_stream_body(), headers=HEADERS) as r:
        assert r.status_code == 200, await r.aread()
        text = (await r.aread()).decode()
    assert "message_stop" in text and "text_delta" in text
    return time.perf_counter() - started


async def test_large_bodies_leave_the_loop_free(pool: Stack) -> None:
    url = pool.gateway_url()
    probe = LoopProbe(url)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as clients:
        async with httpx.AsyncClient(timeout=httpx.Timeout(300.0)) as client:
            await small_stream(client, url)  # warm: connections, lease, simulator
            loop = asyncio.get_running_loop()
            big_task = asyncio.ensure_future(
                asyncio.gather(
                    # ~100 MB (the gateway's limit is 100 MiB); ~50 MB of text and screenshots
                    loop.run_in_executor(
                        clients, post_big, url, "/v1/messages", "messages", 94, CLIENT_TOKEN
                    ),
                    loop.run_in_executor(
                        clients, post_big, url, "/v1/messages/count_tokens", "count", 52, CLIENT_TOKEN
                    ),
                )
            )
            await asyncio.sleep(0.5)  # the clients build their bodies
            probe_task = asyncio.create_task(probe.run())
            streams: list[float] = []
            while not big_task.done():
                streams.append(await small_stream(client, url))
                await asyncio.sleep(0.3)
            message, count = await big_task
            probe.stop()
            await probe_task
    print(  # the README's figures (pytest -s)
        f"\nload: 100MB messages {message.seconds:.1f}s, 50MB count_tokens {count.seconds:.1f}s, "
        f"healthz worst {probe.worst * 1000:.0f}ms over {len(probe.latencies)} probes, "
        f"small stream worst {max(streams) * 1000:.0f}ms over {len(streams)}"
    )
    assert 95_000_000 < message.body_bytes < 100 * 1024 * 1024 and count.body_bytes > 50_000_000
    # parsed, converted, sent upstream whole, and the upstream's answer passed on
    assert message.status == 400, message.body[:500]
    error = orjson.loads(message.body)["error"]
    assert error["type"] == "invalid_request_error" and "prompt is too long" in error["message"]
    assert count.status == 200, count.body[:500]
    assert orjson.loads(count.body)["input_tokens"] > 300_000
    assert not probe.failures
    assert probe.worst < MARGIN_S, f"/healthz took {probe.worst:.2f}s during the big requests"
    assert len(streams) >= 2 and max(streams) < MARGIN_S, f"small streams took {streams}"


def start_partial_upload(port: int, size: int) -> socket.socket:
    """A request that declares `size` bytes and sends half of them (held in flight)."""
    sock = connect(port)
    sock.sendall(
        b"POST /v1/messages HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
        + f"x-api-key: {CLIENT_TOKEN}\r\ncontent-length: {size}\r\n\r\n".encode()
        + b" " * (size // 2)
    )
    return sock


async def test_large_body_budget_gives_429_with_retry_after_only_beyond_it(capped: Stack) -> None:
    url = capped.gateway_url()
    port = capped.gateway_ports[0]
    body = big_messages_body(3, chunk_kb=64)  # 3 MB: large, within the 4 MiB budget alone
    async with httpx.AsyncClient(timeout=60.0) as client:
        held = start_partial_upload(port, len(body))
        try:
            await asyncio.sleep(0.5)  # the held request has been admitted
            refused = await client.post(url + "/v1/messages", content=body, headers=HEADERS)
            assert refused.status_code == 429, refused.text[:300]
            assert float(refused.headers["retry-after"]) >= 1
            # answered before its body was read: the connection closes (the rest of the body
            # must not be read as the next request's head; CI once saw that as a 431)
            assert refused.headers["connection"] == "close"
            error = refused.json()
            assert error["type"] == "error" and error["error"]["type"] == "rate_limit_error"
            small = await client.post(  # small bodies do not count against the budget
                url + "/v1/messages",
                json={"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
                headers=HEADERS,
            )
            assert small.status_code == 200, small.text
        finally:
            held.close()
        # the held upload is gone: its share of the budget is back
        await asyncio.sleep(0.5)
        alone = await client.post(url + "/v1/messages", content=body, headers=HEADERS)
        assert alone.status_code == 200, alone.text[:300]
        # one body larger than the whole budget is still served when it is alone (never refused
        # for its size below the 100 MiB limit)
        larger = big_messages_body(20)  # Claude-Code-sized
        response = await client.post(url + "/v1/messages", content=larger, headers=HEADERS)
        assert response.status_code == 200, response.text[:300]
        assert "big hello" in response.json()["content"][0]["text"]


async def test_a_large_invalid_body_is_a_400_in_the_client_shape(capped: Stack) -> None:
    url = capped.gateway_url()
    broken = big_messages_body(1)[:-2]  # prepared in a worker: the error crosses back as it is
    async with httpx.AsyncClient(timeout=60.0) as client:
        response = await client.post(url + "/v1/messages", content=broken, headers=HEADERS)
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_request_error"
        assert "not valid JSON" in response.json()["error"]["message"]
        openai = await client.post(
            url + "/v1/chat/completions",
            content=orjson.dumps({"model": MODEL, "messages": "x" * 400_000}),
            headers=HEADERS,
        )
        assert openai.status_code == 400 and openai.json()["error"]["type"] == "invalid_request_error"
