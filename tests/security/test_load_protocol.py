"""The inbound-limit protocol (kiro_service.inbound_protocol) in one process, with a tiny ASGI
app: the connection caps make room by closing the oldest connection that has no request in
flight and never one that is being served; a body the application is slow to read is not taken
for a stalled client; a slow answer outlives every timeout; an answer given before the body
arrived closes the connection without a reset."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn

from kiro_service import InboundLimits, attach_limits, server_options
from kiro_testing import free_port
from tests.security.load_helpers import read_until_closed

GET = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/refuse-early":  # answered on the head, the body never read (a 429 / 413)
        headers = [(b"content-length", b"2"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": b"no"})
        return
    if scope["path"] == "/slow-reader":
        await asyncio.sleep(2.5)  # longer than the body idle timeout, before reading anything
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/slow-answer":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(5):  # 2.5 s: longer than every timeout below
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
            await asyncio.sleep(0.5)
        await send({"type": "http.response.body", "body": b""})
        return
    length = str(len(body)).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", length)]})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def serving(limits: InboundLimits) -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, **server_options(limits))
    attach_limits(config, limits)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    limits = InboundLimits(
        head_timeout=1.0,
        body_idle_timeout=1.0,
        keepalive_timeout=1.0,
        max_connections=20,
        max_connections_per_address=10,
    )
    with serving(limits) as port:
        yield port


def request(port: int, data: bytes = GET) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        return sock.recv(65536)


def test_the_address_cap_closes_the_oldest_idle_connection_not_a_busy_one(port: int) -> None:
    busy = socket.create_connection(("127.0.0.1", port), timeout=5)
    busy.sendall(b"GET /slow-answer HTTP/1.1\r\nhost: x\r\n\r\n")  # being served for 2.5 s
    time.sleep(0.2)
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(12)]
    try:
        assert request(port).startswith(b"HTTP/1.1 200")
        oldest, elapsed = read_until_closed(idle[0], 1.0)
        assert oldest == b"" and elapsed < 0.5  # closed to make room (before its head timeout)
        answer, _ = read_until_closed(busy, 6.0)
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"0\r\n\r\n")  # the whole answer
    finally:
        busy.close()
        for sock in idle:
            sock.close()


def test_a_slow_reading_application_is_not_a_stalled_body(port: int) -> None:
    body = b"a" * 300_000  # more than uvicorn buffers before it stops reading
    head = f"POST /slow-reader HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        answer, _ = read_until_closed(sock, 6.0)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]


def test_a_head_just_over_the_cap_is_431_and_under_is_served(port: int) -> None:
    over = b"GET / HTTP/1.1\r\nhost: x\r\nx-pad: " + b"a" * (64 * 1024) + b"\r\n\r\n"
    assert request(port, over).startswith(b"HTTP/1.1 431")
    under = b"GET / HTTP/1.1\r\nhost: x\r\nx-pad: " + b"a" * (60 * 1024) + b"\r\n\r\n"
    assert request(port, under).startswith(b"HTTP/1.1 200")


def test_the_process_cap_makes_room_from_idle_connections_and_refuses_when_all_are_busy() -> None:
    limits = InboundLimits(max_connections=3, max_connections_per_address=100)
    with serving(limits) as port:
        idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
        try:
            assert request(port).startswith(b"HTTP/1.1 200")  # the oldest idle one made room
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.2)
        busy = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
        try:
            for sock in busy:
                sock.sendall(b"GET /slow-answer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            time.sleep(0.3)
            refused = request(port)
            assert refused.startswith(b"HTTP/1.1 503") and b"too_many_connections" in refused
            for sock in busy:  # and every answer in progress completes
                answer, _ = read_until_closed(sock, 6.0)
                assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"0\r\n\r\n")
        finally:
            for sock in busy:
                sock.close()


def test_pipelined_and_kept_alive_requests_are_served(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(GET * 3)
        data = b""
        deadline = time.monotonic() + 5
        while data.count(b"HTTP/1.1 200") < 3 and time.monotonic() < deadline:
            data += sock.recv(65536)
        assert data.count(b"HTTP/1.1 200") == 3
        for _ in range(3):  # kept alive, a little slower than the head timeout each time in total
            time.sleep(0.4)
            sock.sendall(GET)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")


def test_an_answer_before_the_body_closes_without_a_reset(port: int) -> None:
    """Regression (seen under load in the security suite as a client-side `ReadError` instead
    of the gateway's 429): uvicorn closed the socket with the unread body in it, and the kernel's
    reset can destroy the answer before the client reads it. Now the server half-closes and
    drains: the client may go on sending for a moment, then reads the answer and a clean end."""
    head = b"POST /refuse-early HTTP/1.1\r\nhost: x\r\ncontent-length: 8000000\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head + b"a" * 200_000)
        time.sleep(0.3)  # answered and closed by now
        for _ in range(20):  # the server still drains: no reset while the client sends
            sock.sendall(b"a" * 16_384)
        answer, _ = read_until_closed(sock, 3.0)
    assert answer.startswith(b"HTTP/1.1 429") and answer.endswith(b"no"), answer[:200]
