"""The real stack for the gateway benchmark, and a lean HTTP/1.1 load client.

`Bench` starts, with the kit's stack builder (`kiro_testing.stack`) on free loopback ports:
nats-server, redis-server, the Kiro simulator (`--chunking whole --log-level WARNING`), one
token broker, one gateway and the dashboard (`LOG_LEVEL=WARNING`), as `make run` has them; plus
`python -m bench._stack floor`, a minimal HTTP server (uvloop, one canned answer) that shows
what the load client and loopback TCP cost on their own. `Bench.direct` and `Bench.gateway` are the simulator
calls the gateway makes, prepared once (same Kiro body, same headers, a minted access token).

`Client` is a keep-alive HTTP/1.1 client on `asyncio.Protocol` + `httptools` (the parser
uvicorn uses): one pre-built request per call, the response parsed without copies, the time of
the first byte and of the first body chunk holding a marker (first content) recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httptools
import orjson

from kiro_testing import PythonService, free_port
from kiro_testing.stack import ADMIN_TOKEN, CLIENT_TOKEN, StackConfig
from kiro_testing.stack import Stack as KitStack
from kiroproto.upstream import chat_headers, machine_id

MODEL = "claude-sonnet-4-5"


# --------------------------------------------------------------------------- requests


def anthropic_body(text: str, *, stream: bool, max_tokens: int = 64) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": max_tokens,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


def http_request(host: str, port: int, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
    """One HTTP/1.1 POST, serialised once and written as is for every call."""
    lines = [f"POST {path} HTTP/1.1", f"host: {host}:{port}", f"content-length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# --------------------------------------------------------------------------- the client


class ClientError(Exception):
    pass


@dataclass(slots=True)
class Timing:
    total: float  # request written -> response complete (seconds)
    first_byte: float  # request written -> first response byte
    first_content: float  # request written -> first body chunk holding the marker (or first byte)
    body_bytes: int
    body: bytes | None = None  # only when asked for (untimed checks)


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._done: asyncio.Future[None] | None = None
        self._marker: bytes | None = None
        self._started = 0.0
        self._first_byte = 0.0
        self._first_content = 0.0
        self._body = 0
        self._tail = b""
        self._capture: list[bytes] | None = None
        self.status = 0
        self.lost = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._done is not None and not self._done.done():
            self._done.set_exception(ClientError(f"connection lost: {exc!r}"))

    @property
    def received(self) -> int:
        """Bytes of the current response received so far (0: none)."""
        return 1 if self._first_byte else 0

    def data_received(self, data: bytes) -> None:
        if not self._first_byte:
            self._first_byte = time.perf_counter()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self._done is not None and not self._done.done():
                self._done.set_exception(ClientError(f"bad response: {exc}"))

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._body += len(body)
        if self._capture is not None:
            self._capture.append(body)
        if not self._first_content:
            marker = self._marker
            if marker is None:
                self._first_content = time.perf_counter()
            else:
                window = self._tail + body
                if marker in window:
                    self._first_content = time.perf_counter()
                else:
                    self._tail = window[-len(marker) :]

    def on_message_complete(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def call(self, request: bytes, marker: bytes | None, capture: bool = False) -> Timing:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self._marker = marker
        self._first_byte = self._first_content = 0.0
        self._body = 0
        self._tail = b""
        self._capture = [] if capture else None
        self.status = 0
        self._started = started = time.perf_counter()
        self.transport.write(request)
        await self._done
        ended = time.perf_counter()
        if self.status != 200:
            said = b"".join(self._capture)[:300].decode(errors="replace") if self._capture else ""
            raise ClientError(f"HTTP {self.status} {said}".rstrip())
        first_content = self._first_content or ended
        body = b"".join(self._capture) if self._capture is not None else None
        return Timing(ended - started, self._first_byte - started, first_content - started, self._body, body)


class Client:
    """A pool of keep-alive connections to one host; `call()` borrows one per request."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self._idle: list[_Connection] = []

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Connection, self.host, self.port)
        return conn

    async def call(self, request: bytes, marker: bytes | None = None, capture: bool = False) -> Timing:
        conn: _Connection | None = None
        while self._idle and conn is None:
            conn = self._idle.pop()
            if conn.lost:  # the server closed it while idle (keep-alive timeout)
                conn = None
        reused = conn is not None
        if conn is None:
            conn = await self._connect()
        try:
            timing = await conn.call(request, marker, capture)
        except ClientError:
            if conn.transport is not None:
                conn.transport.close()
            if not (reused and conn.lost and conn.received == 0):
                raise
            # the server's keep-alive timeout closed it as we sent: once more on a new connection
            conn = await self._connect()
            timing = await conn.call(request, marker, capture)
        except BaseException:
            if conn.transport is not None:
                conn.transport.close()
            raise
        if not conn.lost:
            self._idle.append(conn)
        return timing

    async def warm(self, connections: int) -> None:
        conns = [await self._connect() for _ in range(connections - len(self._idle))]
        self._idle.extend(conns)

    def close(self) -> None:
        for conn in self._idle:
            if conn.transport is not None:
                conn.transport.close()
        self._idle.clear()


# --------------------------------------------------------------------------- the stack


@dataclass(slots=True)
class Prepared:
    """A request ready to be written, and the marker of its first content."""

    port: int
    request: bytes
    marker: bytes | None = None


@dataclass
class Bench:
    """The benchmark's stack (`kiro_testing.stack.Stack`: nats-server, redis-server, the
    simulator answering whole, one broker, one gateway) and the floor server, with the requests
    of every target prepared once."""

    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="kiro-bench-")))
    credentials: int = 2
    pool_max: int = 600  # per credential: room for the concurrent-streams measurement
    stack: KitStack | None = None
    floor_process: PythonService | None = None
    sim_port: int = 0
    gateway_port: int = 0
    floor_port: int = 0
    accounts: list[dict[str, Any]] = field(default_factory=list)
    access_token: str = ""

    def config(self) -> StackConfig:
        return StackConfig(
            dashboard=True,  # the real stack (make run's): the dashboard takes the traffic history
            oauth=True,
            admin_token=ADMIN_TOKEN,
            accounts=[{} for _ in range(self.credentials)],
            # a 5 MB history goes upstream whole (the simulator's default limit is Kiro's size)
            # 1,000 streams from one loopback address: the per-address inbound limit (256, against
            # many connections from one client) would refuse most of them (kiro_service.inbound)
            sim_env={
                "KIRO_SIM_DEFAULT_CREDITS_LIMIT": "1000000000",
                "KIRO_SIM_BODY_LIMIT": "50000000",
                "HTTP_MAX_CONNECTIONS_PER_ADDRESS": "4096",
            },
            sim_args=["--chunking", "whole"],
            client_token=CLIENT_TOKEN,
            secret_key=None,
            namespace="bench",
            test_defaults=False,
            env={
                "SESSION_POOL_MAX_SIZE": str(self.pool_max),
                "SESSION_POOL_MAX_RETRIES": "3",
                "SESSION_POOL_WAIT": "10s",
                "LOG_LEVEL": "WARNING",
                "HTTP_MAX_CONNECTIONS_PER_ADDRESS": "4096",
            },
            broker_env={"KIRO_ALLOW_PLAINTEXT_SECRETS": "true"},  # the benchmark measures the plain path
            plain_names=True,
        )

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()  # a half-started stack leaves no process behind
            raise

    def _start(self) -> None:
        self.stack = stack = KitStack(self.log_dir, self.config()).start()
        assert stack.sim_url is not None
        self.sim_port = int(stack.sim_url.rsplit(":", 1)[1])
        self.gateway_port = stack.gateway_ports[0]
        self.accounts = stack.accounts
        self.access_token = stack.sim.access_token(self.accounts[0]["id"])
        self.floor_port = free_port()
        self.floor_process = PythonService(
            "floor",
            "bench._stack",
            self.log_dir,
            {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
            f"http://127.0.0.1:{self.floor_port}/",
            args=["floor", "--port", str(self.floor_port)],
        )
        self.floor_process.start()

    def pids(self) -> dict[str, int]:
        """name -> pid of every process of the stack (for CPU and memory accounting)."""
        processes = [*(self.stack.processes if self.stack else []), self.floor_process]
        return {p.name: p.proc.pid for p in processes if p is not None and p.proc is not None}

    def stop(self) -> None:
        if self.floor_process is not None:
            self.floor_process.stop()
        if self.stack is not None:
            self.stack.stop()

    # ---- requests, prepared once
    def gateway(self, text: str, *, stream: bool) -> Prepared:
        return self.gateway_json(anthropic_body(text, stream=stream))

    def gateway_json(self, anthropic: dict[str, Any]) -> Prepared:
        body = orjson.dumps(anthropic)
        stream = bool(anthropic.get("stream"))
        headers = {
            "content-type": "application/json",
            "x-api-key": CLIENT_TOKEN,
            "anthropic-version": "2023-06-01",
        }
        request = http_request("127.0.0.1", self.gateway_port, "/v1/messages", body, headers)
        return Prepared(self.gateway_port, request, b"content_block_delta" if stream else None)

    def direct(self, text: str) -> Prepared:
        """The simulator call the gateway makes for `text` (same Kiro body and headers)."""
        return self.direct_json(anthropic_body(text, stream=True))

    def direct_json(self, anthropic: dict[str, Any]) -> Prepared:
        """The simulator call the gateway makes for this Messages body."""
        from kiroproto.anthropic.request import MessagesRequest
        from kiroproto.convert import convert_anthropic_request
        from kiroproto.models import ModelMap, ModelMapConfig

        req = MessagesRequest.model_validate(anthropic)
        conversion = convert_anthropic_request(req, ModelMap(ModelMapConfig()).resolve(MODEL))
        wire = {**conversion.body.to_wire(), "profileArn": self.accounts[0]["profile_arn"]}
        body = orjson.dumps(wire)
        machine = machine_id(None, self.accounts[0]["refresh_token"])
        headers = chat_headers(self.access_token, machine)
        request = http_request("127.0.0.1", self.sim_port, "/generateAssistantResponse", body, headers)
        return Prepared(self.sim_port, request, b"assistantResponseEvent")

    def floor(self) -> Prepared:
        request = http_request("127.0.0.1", self.floor_port, "/", b"{}", {"content-type": "application/json"})
        return Prepared(self.floor_port, request, None)


@contextlib.contextmanager
def running_bench(**kwargs: Any) -> Iterator[Bench]:
    bench = Bench(**kwargs)
    bench.start()
    try:
        yield bench
    finally:
        bench.stop()


# --------------------------------------------------------------------------- the floor server

_FLOOR_BODY = b'{"ok":true}'
_FLOOR_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(_FLOOR_BODY)).encode()
    + b"\r\n\r\n"
    + _FLOOR_BODY
)


class _FloorProtocol(asyncio.Protocol):
    """Answers every request with the same bytes (keep-alive), parsed with httptools."""

    def __init__(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_message_complete(self) -> None:
        if self.transport is not None:
            self.transport.write(_FLOOR_RESPONSE)


async def _serve_floor(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_FloorProtocol, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench._stack")
    parser.add_argument("what", choices=["floor"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    import uvloop

    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(_serve_floor(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
