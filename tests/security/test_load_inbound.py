"""Finding 4: no header, body or idle timeouts, no header size cap. A bare, a slow-header and a
slow-body connection stayed open over 80 s; one client held 5,000 idle connections and two
exhausted the gateway's file limit; a 64 MB header got a 200 after seconds of CPU.

Now (kiro_service.inbound, on every listening service): a request head over 64 KiB is refused
with 431 at once; a head that does not arrive within HTTP_HEAD_TIMEOUT, or a body that sends
nothing for HTTP_BODY_IDLE_TIMEOUT, ends the connection (408); idle connections beyond the
per-address cap are closed oldest first and the soft open-file limit is raised, so 5,000 idle
connections from one address do not stop a normal request; and a streamed answer longer than
every one of these timeouts is never cut. The timeouts are set short here (2-3 s).
"""

from __future__ import annotations

import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kiro_testing import NatsServer, RedisServer
from kiro_testing.sim import Sim, credential
from kiro_testing.stack import CLIENT_TOKEN, Stack, StackConfig
from tests.security.load_helpers import MODEL, connect, read_until_closed

pytestmark = pytest.mark.integration

HEAD_TIMEOUT_S = 2.0
BODY_IDLE_S = 2.0
KEEPALIVE_S = 3.0
SLACK_S = 2.0  # scheduling on a loaded machine
GATEWAY_SOFT_NOFILE = 4096  # the gateway starts with this soft limit (< 5,000 connections)
HEADERS = {"x-api-key": CLIENT_TOKEN, "anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def pool(log_dir: Path, nats_server: NatsServer, redis_server: RedisServer) -> Iterator[Stack]:
    sim = Sim(log_dir / "load-inbound")
    sim.start()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        # the services inherit a low soft limit, as under many init systems (1024 is common)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, GATEWAY_SOFT_NOFILE), hard))
        stack = Stack(
            log_dir / "load-inbound",
            StackConfig(
                credentials=[credential(sim.add_account())],
                gateway_env={
                    "HTTP_HEAD_TIMEOUT": f"{HEAD_TIMEOUT_S:g}s",
                    "HTTP_BODY_IDLE_TIMEOUT": f"{BODY_IDLE_S:g}s",
                    "HTTP_KEEPALIVE_TIMEOUT": f"{KEEPALIVE_S:g}s",
                },
            ),
            nats_url=nats_server.url,
            redis_url=redis_server.url,
            sim=sim,
        )
        with stack as running:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            yield running
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        sim.stop()


def port_of(pool: Stack) -> int:
    return pool.gateway_ports[0]


def small_message(text: str = "hi", *, stream: bool = False) -> dict[str, object]:
    return {
        "model": MODEL,
        "max_tokens": 32,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


def test_half_a_request_head_is_disconnected_within_the_head_timeout(pool: Stack) -> None:
    sock = connect(port_of(pool))
    try:
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nhost: gw\r\nx-api-key: ")  # ...and nothing more
        data, elapsed = read_until_closed(sock, HEAD_TIMEOUT_S + SLACK_S + 5)
    finally:
        sock.close()
    assert elapsed < HEAD_TIMEOUT_S + SLACK_S, f"still open after {elapsed:.1f}s"
    assert data.startswith(b"HTTP/1.1 408"), data[:100]


def test_a_bare_connection_is_closed_within_the_head_timeout(pool: Stack) -> None:
    sock = connect(port_of(pool))
    try:
        data, elapsed = read_until_closed(sock, HEAD_TIMEOUT_S + SLACK_S + 5)
    finally:
        sock.close()
    assert data == b"" and elapsed < HEAD_TIMEOUT_S + SLACK_S, f"still open after {elapsed:.1f}s"


def test_a_stalled_body_gets_408(pool: Stack) -> None:
    sock = connect(port_of(pool))
    try:
        sock.sendall(
            b"POST /v1/messages HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
            + f"x-api-key: {CLIENT_TOKEN}\r\ncontent-length: 1000\r\n\r\n".encode()
            + b'{"model": "'
        )
        data, elapsed = read_until_closed(sock, BODY_IDLE_S + SLACK_S + 5)
    finally:
        sock.close()
    assert elapsed < BODY_IDLE_S + SLACK_S, f"still open after {elapsed:.1f}s"
    assert data.startswith(b"HTTP/1.1 408"), data[:100]


def test_an_idle_keep_alive_connection_is_closed(pool: Stack) -> None:
    sock = connect(port_of(pool))
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: gw\r\n\r\n")
        started = time.monotonic()
        data, _ = read_until_closed(sock, KEEPALIVE_S + SLACK_S + 5)
        elapsed = time.monotonic() - started
    finally:
        sock.close()
    assert data.startswith(b"HTTP/1.1 200")
    assert KEEPALIVE_S - 0.5 < elapsed < KEEPALIVE_S + SLACK_S, elapsed


def send_huge_header(port: int, total: int) -> tuple[bytes, float]:
    """Send a request whose one header is `total` bytes (stopping when the server closes), and
    read the answer meanwhile; (answer, seconds until the server closed)."""
    sock = connect(port)
    answer: list[bytes] = []
    done = threading.Event()
    started = time.monotonic()
    timing: list[float] = []

    def reader() -> None:
        data, _ = read_until_closed(sock, 30.0)
        answer.append(data)
        timing.append(time.monotonic() - started)
        done.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: gw\r\nx-padding: ")
        chunk = b"a" * (1024 * 1024)
        sent = 0
        while sent < total and not done.is_set():
            try:
                sock.sendall(chunk)
            except OSError:
                break
            sent += len(chunk)
        done.wait(30.0)
    finally:
        sock.close()
        thread.join(5.0)
    return (answer[0] if answer else b""), (timing[0] if timing else 99.0)


def test_a_64_mb_header_is_refused_with_431_at_once(pool: Stack) -> None:
    data, elapsed = send_huge_header(port_of(pool), 64 * 1024 * 1024)
    assert data.startswith(b"HTTP/1.1 431"), data[:200]
    assert b"request_header_too_large" in data
    assert elapsed < 3.0, elapsed
    # the broker listens with the same limits
    broker_port = int(pool.brokers[0].env["BROKER_PORT"])
    data, _ = send_huge_header(broker_port, 1024 * 1024)
    assert data.startswith(b"HTTP/1.1 431"), data[:200]
    # a head just under the cap is fine
    with httpx.Client(timeout=10.0) as client:
        ok = client.get(pool.gateway_url() + "/healthz", headers={"x-padding": "a" * 60_000})
    assert ok.status_code == 200


def test_5000_idle_connections_from_one_address_do_not_stop_a_request(pool: Stack) -> None:
    port = port_of(pool)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 6000:  # this client needs the files too
        if hard != resource.RLIM_INFINITY and hard < 6000:
            pytest.skip(f"the open-file hard limit ({hard}) is too low for 5,000 client sockets")
        resource.setrlimit(resource.RLIMIT_NOFILE, (8192, hard))
    idle: list[socket.socket] = []
    try:
        for _ in range(5000):
            try:
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=2.0))
            except OSError:
                continue
        assert len(idle) >= 4500
        started = time.monotonic()
        with httpx.Client(timeout=20.0) as client:
            response = client.post(pool.gateway_url() + "/v1/messages", json=small_message(), headers=HEADERS)
        assert response.status_code == 200, response.text
        assert time.monotonic() - started < 5.0
    finally:
        for sock in idle:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_stream_longer_than_every_timeout_is_not_cut(pool: Stack) -> None:
    slow = '<<sim:{"text": "slow and steady", "fragment_max": 1, "event_delay": 0.4}>> go'  # ~6 s
    started = time.monotonic()
    with (
        httpx.Client(timeout=30.0) as client,
        client.stream(
            "POST",
            pool.gateway_url() + "/v1/messages",
            json=small_message(slow, stream=True),
            headers=HEADERS,
        ) as response,
    ):
        assert response.status_code == 200
        text = response.read().decode()
    elapsed = time.monotonic() - started
    assert elapsed > KEEPALIVE_S + 1, elapsed  # outlived the head, body and keep-alive timeouts
    assert "message_stop" in text
