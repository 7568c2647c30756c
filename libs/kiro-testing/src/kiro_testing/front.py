"""The round-robin TCP front of a multi-gateway stack (what a load balancer does, minimally).

One client connection is piped to one backend, chosen round-robin among the backends whose
`/readyz` answered 200 at the last poll (every `--poll` seconds; all of them if none is ready);
a backend that refuses the connection is skipped and the next one is tried. When a backend dies
mid-response, the client's connection is closed, which the client sees as a cut connection.

`python -m kiro_testing.front --port P --backend 127.0.0.1:A --backend ...` runs it alone;
`FrontProcess` runs it as a child process of a `kiro_testing.stack.Stack`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kiro_service.tasks import cancel_and_wait
from kiro_testing.processes import ManagedProcess, free_port, wait_tcp


@dataclass
class _Backend:
    host: str
    port: int
    ready: bool = True
    connections: int = 0
    refused: int = 0


class RoundRobinFront:
    """An asyncio TCP proxy: one client connection, one backend, round-robin over ready ones."""

    def __init__(
        self,
        backends: Sequence[tuple[str, int]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ready_path: str | None = "/readyz",
        poll_s: float = 0.25,
        connect_timeout: float = 2.0,
    ) -> None:
        if not backends:
            raise ValueError("the front needs at least one backend")
        self.backends = [_Backend(h, p) for h, p in backends]
        self.host = host
        self.port = port
        self.ready_path = ready_path
        self.poll_s = poll_s
        self.connect_timeout = connect_timeout
        self._next = 0
        self._server: asyncio.Server | None = None
        self._poller: asyncio.Task[None] | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port, backlog=512)
        sockets = self._server.sockets
        self.port = int(sockets[0].getsockname()[1])
        if self.ready_path:
            self._poller = asyncio.create_task(self._poll_loop(), name="front-readiness")

    async def stop(self) -> None:
        await cancel_and_wait(self._poller)
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        if self._pipes:
            await asyncio.wait(set(self._pipes), timeout=2.0)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    # -- readiness
    async def _poll_loop(self) -> None:
        while True:
            await asyncio.gather(*(self._probe(b) for b in self.backends))
            await asyncio.sleep(self.poll_s)

    async def _probe(self, backend: _Backend) -> None:
        backend.ready = await http_get_ok(backend.host, backend.port, self.ready_path or "/", limit_s=1.0)

    def _order(self) -> list[_Backend]:
        """Round-robin over the ready backends; the others only as a last resort."""
        ready = [b for b in self.backends if b.ready] or list(self.backends)
        start = self._next % len(ready)
        self._next += 1
        ring = ready[start:] + ready[:start]
        return ring + [b for b in self.backends if b not in ring]

    # -- piping
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._pipes.add(task)
        try:
            upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
            for backend in self._order():
                try:
                    upstream = await asyncio.wait_for(
                        asyncio.open_connection(backend.host, backend.port), self.connect_timeout
                    )
                except (OSError, TimeoutError):
                    backend.refused += 1
                    backend.ready = False
                    continue
                backend.connections += 1
                break
            if upstream is None:
                return
            b_reader, b_writer = upstream
            try:
                await asyncio.gather(_pipe(reader, b_writer), _pipe(b_reader, writer))
            finally:
                _abort(b_writer)
        finally:
            _close(writer)
            if task is not None:
                self._pipes.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF (then half-close the other side) or an error (then abort both ways)."""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                if writer.can_write_eof():
                    with contextlib.suppress(OSError, RuntimeError):
                        writer.write_eof()
                return
            writer.write(data)
            await writer.drain()
    except (OSError, RuntimeError, asyncio.IncompleteReadError):
        _abort(writer)


def _abort(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    if not transport.is_closing():
        transport.abort()


def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        writer.close()


async def http_get_ok(host: str, port: int, path: str, *, limit_s: float) -> bool:
    """A bare HTTP/1.1 GET: True on a 2xx status line within `limit_s`."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(limit_s):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            line = await reader.readline()
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            _close(writer)
    parts = line.split()
    return len(parts) >= 2 and parts[1].startswith(b"2")


class FrontProcess(ManagedProcess):
    """The front as a child process (`python -m kiro_testing.front ...`)."""

    def __init__(self, log_dir: Path, backends: Sequence[tuple[str, int]], port: int | None = None) -> None:
        super().__init__("front", log_dir)
        self.port = port or free_port()
        self.backends = list(backends)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> Sequence[str]:
        args = [sys.executable, "-m", "kiro_testing.front", "--port", str(self.port)]
        for host, port in self.backends:
            args += ["--backend", f"{host}:{port}"]
        return args

    def wait_ready(self) -> None:
        wait_tcp(self.port)


# --------------------------------------------------------------------------------- entry point


async def _run_front(port: int, backends: list[tuple[str, int]], poll_s: float) -> None:
    front = RoundRobinFront(backends, port=port, poll_s=poll_s)
    await front.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await front.stop()


def _parse_backend(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiro_testing.front")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend", action="append", required=True, help="host:port (repeat)")
    parser.add_argument("--poll", type=float, default=0.25, help="readiness poll period (s)")
    args = parser.parse_args(argv)
    if os.environ.get("KIRO_FRONT_DEBUG"):
        logging.basicConfig(level=logging.DEBUG)
    asyncio.run(_run_front(args.port, [_parse_backend(b) for b in args.backend], args.poll))
    return 0


if __name__ == "__main__":
    sys.exit(main())
