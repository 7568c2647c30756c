"""`GET /metrics` without a key, on a separate, non-public port, for Prometheus.

On the public origin `/metrics` needs the admin key (CONTRACTS.md, HTTP surface); a scraper gets
the same exposition here instead, on an address the operator keeps off the public network
(loopback by default; the pod or Compose network in `deploy/`). Each service turns it on with
its own `<SERVICE>_METRICS_PORT` (unset or 0: off) and `<SERVICE>_METRICS_HOST`.

A deliberately small HTTP/1.1 responder on asyncio streams: one request per connection, the
request head capped (8 KiB) and timed (10 s), `GET`/`HEAD` of `/metrics` answered, everything
else 404 / 405. No framework and no state beyond the listening socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from prometheus_client import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

_HEAD_LIMIT = 8 * 1024
_HEAD_TIMEOUT_S = 10.0


class MetricsServer:
    def __init__(
        self, render: Callable[[], bytes], *, host: str, port: int, reuse_port: bool = False
    ) -> None:
        """`reuse_port`: several worker processes of one service share the port (each answers
        with the merged multiprocess values)."""
        self._render = render
        self._host = host
        self._port = port
        self._reuse_port = reuse_port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (the configured one, or the one the OS chose for 0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self._host, self._port, reuse_port=self._reuse_port or None
        )
        log.info("metrics port listening", extra={"host": self._host, "port": self.port})

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT_S)
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            if len(head) > _HEAD_LIMIT:
                await self._answer(writer, 431, b"request head too large\n")
                return
            method, _, rest = head.split(b"\r\n", 1)[0].partition(b" ")
            target = rest.partition(b" ")[0].split(b"?", 1)[0]
            if target != b"/metrics":
                await self._answer(writer, 404, b"not found: this port serves /metrics only\n")
            elif method not in (b"GET", b"HEAD"):
                await self._answer(writer, 405, b"method not allowed\n")
            else:
                body = self._render()
                await self._answer(writer, 200, body, CONTENT_TYPE_LATEST, head_only=method == b"HEAD")
        except Exception as exc:  # a scrape must never take the service down
            log.warning("metrics port: request failed", extra={"error": type(exc).__name__})
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _answer(
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        *,
        head_only: bool = False,
    ) -> None:
        reason = {
            200: "OK",
            404: "Not Found",
            405: "Method Not Allowed",
            431: "Request Header Fields Too Large",
        }
        head = (
            f"HTTP/1.1 {status} {reason[status]}\r\ncontent-type: {content_type}\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode("latin-1")
        writer.write(head if head_only else head + body)
        await writer.drain()


@contextlib.asynccontextmanager
async def keyless_metrics(render: Callable[[], bytes], *, host: str, port: int | None) -> AsyncIterator[None]:
    """The keyless metrics port for the lifespan's duration; nothing when `port` is unset or 0."""
    if not port:
        yield
        return
    server = MetricsServer(render, host=host, port=port)
    await server.start()
    try:
        yield
    finally:
        await server.close()
