"""A lean HTTP/1.1 keep-alive transport for the direct upstream path (no proxy).

Profiling the gateway (README "Performance") showed httpx's client and httpcore costing about
0.8 ms of CPU per upstream call on this machine, most of the gateway's own budget; this
transport does the same job on `asyncio.Protocol` + `httptools` (the parser uvicorn uses) for
about 0.05 ms. It is an `httpx.AsyncBaseTransport` (`handle_async_request`), and `post()` is
the same without building an `httpx.Request`; both return an `httpx.Response` whose body
streams as it arrives, and raise httpx's exceptions (`ConnectError`, `ConnectTimeout`,
`ReadTimeout`, `WriteTimeout`, `WriteError`, `PoolTimeout`, `RemoteProtocolError`,
`LocalProtocolError`), so the callers' error mapping is unchanged. Proxied egress
(`PROXY_POOL`) keeps using httpx.

Scope, deliberately small: one request at a time per connection (no pipelining), bodies sent
from memory, TLS with `httpx.create_ssl_context(trust_env=False)` and ALPN `http/1.1` (what
the httpx client used), idle connections kept LIFO for `keepalive_expiry` seconds and dropped
as soon as the peer closes them, at most `max_connections` requests in flight. A response
whose body was not read to the end closes its connection. No retries: a failed call is the
caller's (failover's) business, as it was with httpx.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import httptools
import httpx

_READ_HIGH_WATER = 256 * 1024  # pause reading the socket when this much body is unread
_NO_BODY_STATUS = frozenset({204, 304})


class _Exchange:
    """One response being received on one connection (httptools callbacks land here)."""

    __slots__ = (
        "_conn",
        "_framed",
        "_headers_done",
        "_parser",
        "buffered",
        "chunks",
        "complete",
        "error",
        "headers",
        "keep_alive",
        "status",
        "waiter",  # the future a reader awaits for more of the body
    )

    def __init__(self, conn: _Connection) -> None:
        self._conn = conn
        self._parser = httptools.HttpResponseParser(self)
        self._headers_done = False
        self._framed = False  # content-length or chunked: the parser sees the end of the body
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.complete = False
        self.keep_alive = False
        self.error: Exception | None = None
        self.waiter: asyncio.Future[None] | None = None

    # ---- fed by the connection
    def feed(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.fail(httpx.RemoteProtocolError("upstream switched protocols"))
        except httptools.HttpParserError as exc:
            self.fail(httpx.RemoteProtocolError(f"malformed HTTP response: {exc}"))

    def lost(self) -> None:
        if self.complete or self.error is not None:
            return
        if self._headers_done and not self._framed:
            self.complete = True  # the body ran until the connection closed (HTTP/1.0 style)
            self.wake()
            return
        if self._headers_done:
            message = "peer closed connection without sending complete message body"
            self.fail(httpx.RemoteProtocolError(message))
        else:
            self.fail(httpx.RemoteProtocolError("server disconnected without sending a response"))

    def fail(self, error: Exception) -> None:
        if self.error is None and not self.complete:
            self.error = error
        self.wake()

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ---- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        self.status = parser.get_status_code()
        self._headers_done = True
        self._framed = self.status in _NO_BODY_STATUS or any(
            name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.headers
        )
        self.wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > _READ_HIGH_WATER:
            self._conn.pause_reading()
        self.wake()

    def on_message_complete(self) -> None:
        self.keep_alive = self._parser.should_keep_alive()
        self.complete = True
        self.wake()

    # ---- used by the transport / body
    @property
    def headers_done(self) -> bool:
        return self._headers_done

    async def wait(self, limit_s: float | None, on_timeout: type[httpx.TimeoutException]) -> None:
        """Wait for the next callback (or `limit_s`, raised as `on_timeout`). One timer handle, not
        `asyncio.timeout()`: this runs once per body chunk."""
        loop = asyncio.get_running_loop()
        waiter = self.waiter = loop.create_future()
        timer = loop.call_later(limit_s, _expire, waiter, on_timeout) if limit_s is not None else None
        try:
            await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()


def _expire(waiter: asyncio.Future[None], error: type[httpx.TimeoutException]) -> None:
    if not waiter.done():
        waiter.set_exception(error("timed out waiting for the upstream"))


class _Connection(asyncio.Protocol):
    __slots__ = ("_drained", "_paused", "exchange", "idle_since", "is_lost", "key", "transport")

    def __init__(self, key: tuple[str, str, int]) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.exchange: _Exchange | None = None
        self.is_lost = False
        self.idle_since = 0.0
        self._drained: asyncio.Future[None] | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.is_lost = True
        if self.exchange is not None:
            self.exchange.lost()
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self.exchange is None:
            self.close()  # nothing was asked: an idle connection must stay silent
            return
        self.exchange.feed(data)

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost() follows

    def pause_writing(self) -> None:
        if self._drained is None or self._drained.done():
            self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_result(None)

    async def drain(self, limit_s: float | None) -> None:
        drained = self._drained
        if drained is None or drained.done():
            return
        try:
            async with asyncio.timeout(limit_s):
                await asyncio.shield(drained)
        except TimeoutError:
            raise httpx.WriteTimeout("timed out sending the request upstream") from None

    def pause_reading(self) -> None:
        if self.transport is not None and not self.is_lost and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.is_lost and self._paused:
            self._paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.is_lost = True


class _Body(httpx.AsyncByteStream):
    """The response body: chunks as they arrive; the connection goes back to the pool at the end."""

    __slots__ = ("_conn", "_done", "_exchange", "_pool", "_read_timeout")

    def __init__(self, pool: H1Transport, conn: _Connection, read_timeout: float | None) -> None:
        self._pool = pool
        self._conn = conn
        exchange = conn.exchange
        assert exchange is not None
        self._exchange = exchange
        self._read_timeout = read_timeout
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        exchange = self._exchange
        chunks = exchange.chunks
        try:
            while True:
                if chunks:
                    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                    chunks.clear()
                    exchange.buffered = 0
                    self._conn.resume_reading()
                    yield data
                    continue
                if exchange.error is not None:
                    raise exchange.error
                if exchange.complete:
                    break
                await exchange.wait(self._read_timeout, httpx.ReadTimeout)
        except BaseException:
            self._finish(reuse=False)
            raise
        self._finish(reuse=True)

    async def aclose(self) -> None:
        exchange = self._exchange
        self._finish(reuse=exchange.complete and not exchange.chunks and exchange.error is None)

    def _finish(self, *, reuse: bool) -> None:
        if self._done:
            return
        self._done = True
        self._pool.release(self._conn, reuse=reuse and self._exchange.keep_alive)


class H1Transport(httpx.AsyncBaseTransport):
    """Keep-alive HTTP/1.1 connections to any number of origins, without a proxy."""

    def __init__(
        self,
        *,
        max_connections: int,
        max_keepalive_connections: int,
        keepalive_expiry: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._slots = asyncio.Semaphore(max_connections)  # requests in flight
        self._max_idle = max_keepalive_connections
        self._expiry = keepalive_expiry
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._idle_count = 0
        self._busy: set[_Connection] = set()
        self._heads: dict[httpx.URL, bytes] = {}  # request line + host, per URL
        self._closed = False

    # ---- the pool
    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            # what httpx.AsyncClient(trust_env=False, http2=False) used: certifi roots, HTTP/1.1
            self._ssl = httpx.create_ssl_context(trust_env=False)
            self._ssl.set_alpn_protocols(["http/1.1"])
        return self._ssl

    def _take_idle(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            self._idle_count -= 1
            transport = conn.transport
            stale = now - conn.idle_since > self._expiry
            if conn.is_lost or transport is None or transport.is_closing() or stale:
                conn.close()
                continue
            return conn
        return None

    async def _connect(self, key: tuple[str, str, int], limit_s: float | None) -> _Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        secure = scheme == "https"
        try:
            async with asyncio.timeout(limit_s):
                _, conn = await loop.create_connection(
                    lambda: _Connection(key),
                    host,
                    port,
                    ssl=self._ssl_context() if secure else None,
                    server_hostname=host if secure else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        return conn

    def release(self, conn: _Connection, *, reuse: bool) -> None:
        if conn not in self._busy:
            return
        self._busy.discard(conn)
        conn.exchange = None
        self._slots.release()
        if not reuse or conn.is_lost or self._closed or self._idle_count >= self._max_idle:
            conn.close()
            return
        conn.resume_reading()
        conn.idle_since = time.monotonic()
        self._idle.setdefault(conn.key, []).append(conn)
        self._idle_count += 1

    # ---- requests
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """httpx.AsyncBaseTransport: any request httpx can describe (bodies sent from memory)."""
        body = request.content if isinstance(request.stream, httpx.ByteStream) else await request.aread()
        lines = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
        chunked = False
        for name, value in request.headers.raw:
            if name.lower() == b"transfer-encoding":
                chunked = True
            lines += (name, b": ", value, b"\r\n")
        lines.append(b"\r\n")
        if chunked:
            lines += (b"%x\r\n" % len(body), body, b"\r\n0\r\n\r\n") if body else (b"0\r\n\r\n",)
        elif body:
            lines.append(body)
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        return await self._round_trip(request.url, b"".join(lines), timeouts, request)

    async def post(
        self, url: httpx.URL, headers: Mapping[str, str], body: bytes, timeouts: Mapping[str, float | None]
    ) -> httpx.Response:
        """`POST url` with these headers and body, without building an `httpx.Request` (~25 us
        per call here). The response's `.request` is not set."""
        head = self._heads.get(url)
        if head is None:
            target = url.raw_path
            host = url.netloc
            head = self._heads[url] = b"POST " + target + b" HTTP/1.1\r\nhost: " + host + b"\r\n"
        lines = [head, b"content-length: %d\r\n" % len(body)]
        for name, value in headers.items():
            if "\r" in value or "\n" in value:
                raise httpx.LocalProtocolError(f"invalid value for header {name!r}")
            lines += (name.encode("latin-1"), b": ", value.encode("latin-1"), b"\r\n")
        lines += (b"\r\n", body)
        return await self._round_trip(url, b"".join(lines), timeouts, None)

    async def _round_trip(
        self, url: httpx.URL, data: bytes, timeouts: Mapping[str, float | None], request: httpx.Request | None
    ) -> httpx.Response:
        if self._closed:
            raise httpx.ConnectError("the upstream transport is closed")
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        slots = self._slots
        if slots.locked():
            try:
                async with asyncio.timeout(timeouts.get("pool")):
                    await slots.acquire()
            except TimeoutError:
                raise httpx.PoolTimeout("no upstream connection free in time") from None
        else:
            await slots.acquire()
        key = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        conn: _Connection | None = None
        try:
            conn = self._take_idle(key) or await self._connect(key, timeouts.get("connect"))
            self._busy.add(conn)
        except BaseException:
            if conn is None:
                slots.release()
            raise
        try:
            return await self._exchange(conn, data, timeouts, request)
        except BaseException:
            self.release(conn, reuse=False)
            raise

    async def _exchange(
        self,
        conn: _Connection,
        data: bytes,
        timeouts: Mapping[str, float | None],
        request: httpx.Request | None,
    ) -> httpx.Response:
        exchange = conn.exchange = _Exchange(conn)
        transport = conn.transport
        assert transport is not None
        if conn.is_lost or transport.is_closing():
            raise httpx.WriteError("the upstream connection closed before the request was sent")
        transport.write(data)
        await conn.drain(timeouts.get("write"))
        read_timeout = timeouts.get("read")
        while not exchange.headers_done:
            if exchange.error is not None:
                raise exchange.error
            await exchange.wait(read_timeout, httpx.ReadTimeout)
        return httpx.Response(
            exchange.status,
            headers=exchange.headers,
            stream=_Body(self, conn, read_timeout),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        self._idle_count = 0
        for conn in list(self._busy):
            conn.close()
