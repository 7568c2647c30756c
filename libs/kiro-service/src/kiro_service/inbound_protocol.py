"""uvicorn's httptools protocol with the inbound limits of `inbound.py` added.

What uvicorn does not do, and this class adds:
- a cap on the request head (the bytes fed to the parser before the head completes, checked
  after every read, so a 64 MB header costs one read beyond the cap, not seconds of CPU): 431;
- a head timeout, armed when a connection opens and when the first byte of a later request
  arrives (uvicorn's own keep-alive timer covers the idle time between requests): 408 if part
  of a head came, else a plain close;
- a body idle timeout, re-armed by every body byte, paused while the application is not
  reading (flow control) and never fired once the response has started: 408;
- connection caps per process and per client address: the oldest connection that has no
  request in flight makes room; a response in progress is never cut.

Refusals are written straight to the transport with `connection: close`; the socket is then
half-closed and drained for a moment (a lingering close, at most `LINGER_MAX_BYTES`: a client
that goes on sending a huge body is then reset) so the client reads the answer instead of a
reset. The same goes for an application's answer that closes the connection before the request
body has arrived (a 413 or 429 given on the head): uvicorn would close the socket with unread
bytes in it, which makes the kernel send a reset that can destroy the answer before the client
reads it (`LingeringTransport`). The body is JSON readable by both the Anthropic and the OpenAI
SDKs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from kiro_service.inbound import InboundLimits

log = logging.getLogger("kiro_service.inbound")

LINGER_S = 1.0
LINGER_MAX_BYTES = 4 * 1024 * 1024  # drained at most; a client still sending beyond it is reset
_REASONS = {
    408: ("request_timeout", "the request was not received in time"),
    431: ("request_header_too_large", "the request head is larger than {cap} bytes"),
    503: ("too_many_connections", "the server has too many open connections"),
}


class ConnectionRegistry:
    """Every open connection of one server, oldest first, overall and per client address."""

    def __init__(self, limits: InboundLimits) -> None:
        self.limits = limits
        self.cap = limits.connection_cap()
        self.per_address = limits.max_connections_per_address
        self._all: dict[InboundHttpProtocol, None] = {}
        self._by_address: dict[str, dict[InboundHttpProtocol, None]] = {}

    def __len__(self) -> int:
        return len(self._all)

    def add(self, conn: InboundHttpProtocol) -> bool:
        """Register a new connection, making room if a cap is reached; False: refuse it."""
        peers = self._by_address.setdefault(conn.address, {})
        if len(peers) >= self.per_address:
            self._evict_oldest(peers, reason="per-address connection cap")
        if len(self._all) >= self.cap and not self._evict_oldest(self._all, reason="connection cap"):
            if not peers:
                del self._by_address[conn.address]
            return False
        self._all[conn] = None
        peers[conn] = None
        return True

    def discard(self, conn: InboundHttpProtocol) -> None:
        self._all.pop(conn, None)
        peers = self._by_address.get(conn.address)
        if peers is not None:
            peers.pop(conn, None)
            if not peers:
                del self._by_address[conn.address]

    def _evict_oldest(self, conns: dict[InboundHttpProtocol, None], *, reason: str) -> bool:
        for conn in conns:
            if conn.evictable:
                self.discard(conn)
                conn.evict(reason)
                return True
        return False


def _registry_for(server_state: ServerState, config: Config) -> ConnectionRegistry:
    """One registry per server (kept on uvicorn's per-server state, not in a module global)."""
    registry: ConnectionRegistry | None = getattr(server_state, "kiro_inbound", None)
    if registry is None:
        limits = getattr(config, "kiro_inbound_limits", None)
        registry = ConnectionRegistry(limits if isinstance(limits, InboundLimits) else InboundLimits())
        server_state.kiro_inbound = registry  # type: ignore[attr-defined]
    return registry


class LingeringTransport(asyncio.Transport):
    """The connection's transport as uvicorn sees it: `close()` while the request body is still
    arriving becomes a lingering close (half-close, drain for `LINGER_S` and at most
    `LINGER_MAX_BYTES`, then close)."""

    def __init__(self, transport: asyncio.Transport, protocol: InboundHttpProtocol) -> None:
        super().__init__()
        self._transport = transport
        self._protocol = protocol
        self._lingering = False
        # the per-chunk calls go straight to the real transport: no extra frame on the streaming path
        self.write = transport.write  # type: ignore[method-assign]
        self.writelines = transport.writelines  # type: ignore[method-assign]

    def close(self) -> None:
        protocol = self._protocol
        if self._lingering or self._transport.is_closing():
            return
        if not protocol.body_pending or protocol.refused:
            self._transport.close()
            return
        self._lingering = True
        protocol.linger()
        if self._transport.can_write_eof():
            self._transport.write_eof()
        protocol.loop.call_later(LINGER_S, self._transport.close)

    def is_closing(self) -> bool:
        return self._lingering or self._transport.is_closing()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._transport.write(data)

    def writelines(self, list_of_data: Any) -> None:
        self._transport.writelines(list_of_data)

    def write_eof(self) -> None:
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def abort(self) -> None:
        self._transport.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()


class InboundHttpProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._registry = _registry_for(server_state, config)
        self._limits = self._registry.limits
        self.address = ""
        self._head_bytes = 0
        self._message_open = False  # between the end of a head and the end of its body
        self._pipelined = False  # a head is arriving while an earlier request is in flight
        self._refused = False
        self._discarded = 0  # bytes thrown away during a lingering close
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ state

    @property
    def awaiting_head(self) -> bool:
        """No request in flight: the connection waits for (the rest of) a request head."""
        return not self._message_open and (self.cycle is None or self.cycle.response_complete)

    @property
    def evictable(self) -> bool:
        return self.awaiting_head and not self._refused

    @property
    def body_pending(self) -> bool:
        """A request head has arrived and (part of) its body has not."""
        return self._message_open

    @property
    def refused(self) -> bool:
        return self._refused

    def linger(self) -> None:
        """The answer went out and the connection closes: discard the rest of the body."""
        self._refused = True
        self._message_open = False
        self._cancel_timers()
        self.flow.resume_reading()

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(LingeringTransport(transport, self))
        self.address = self.client[0] if self.client else ""
        if not self._registry.add(self):
            log.warning("connection refused: connection cap reached", extra={"cap": self._registry.cap})
            self._refuse(503, keep_reading=False)
            return
        self._head_timer = self.loop.call_later(self._limits.head_timeout, self._on_head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._registry.discard(self)
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:  # lingering close: discard what is still coming, up to a bound
            self._discarded += len(data)
            if self._discarded > LINGER_MAX_BYTES:
                self.transport.abort()
            return
        if self.awaiting_head and self._head_timer is None:
            # the first byte of a request on a kept-alive connection: its head is now due
            self._head_timer = self.loop.call_later(self._limits.head_timeout, self._on_head_timeout)
        super().data_received(data)
        if self._refused or self.transport.is_closing():
            return
        if self.awaiting_head:
            self._head_bytes += len(data)
            if self._head_bytes > self._limits.max_head_bytes:
                self._refuse(431)
        elif self._pipelined:
            # the head of a pipelined request while a response is in flight: one read at a time
            # (uvicorn resumes reading when the response completes; then the cap applies)
            self.flow.pause_reading()

    # ------------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        if self._refused:
            return
        self._pipelined = not self.awaiting_head  # a new head while a request is in flight
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if not self._refused:
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._refused:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if size > self._limits.max_head_bytes:
            self._refuse(431)
            return
        self._cancel_head_timer()
        self._head_bytes = 0
        self._pipelined = False  # uvicorn itself stops reading behind a pipelined head
        self._message_open = True
        super().on_headers_complete()
        self._arm_body_timer()

    def on_body(self, body: bytes) -> None:
        if self._refused:
            return
        super().on_body(body)
        self._arm_body_timer()

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._message_open = False
        self._cancel_body_timer()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.awaiting_head:
            self._head_bytes = 0

    # ------------------------------------------------------------------ timers

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()

    def _arm_body_timer(self) -> None:
        self._cancel_body_timer()
        if self._message_open:
            self._body_timer = self.loop.call_later(self._limits.body_idle_timeout, self._on_body_timeout)

    def _on_head_timeout(self) -> None:
        self._head_timer = None
        if self._refused or self.transport.is_closing() or not self.awaiting_head:
            return
        if self._head_bytes > 0 or self.headers:
            log.info("request head not received in time", extra={"client": self.address})
            self._refuse(408)
        else:
            self.transport.close()

    def _on_body_timeout(self) -> None:
        self._body_timer = None
        if self._refused or self.transport.is_closing() or not self._message_open:
            return
        cycle = self.cycle
        if cycle is not None and cycle.response_started:
            return  # never cut a response in progress
        if self.flow.read_paused or (cycle is not None and cycle.waiting_for_100_continue):
            # the application is not reading (or has not sent `100 Continue`): not the client's silence
            self._arm_body_timer()
            return
        log.info("request body stalled", extra={"client": self.address})
        self._refuse(408)

    # ------------------------------------------------------------------ refusals

    def evict(self, reason: str) -> None:
        """Make room for a newer connection (only ever called while awaiting a head)."""
        log.info("connection closed to make room", extra={"client": self.address, "reason": reason})
        self._refused = True
        self._cancel_timers()
        self.transport.close()

    def _refuse(self, status: int, *, keep_reading: bool = True) -> None:
        """Answer `status` with `connection: close`, then a lingering close."""
        self._refused = True
        self._cancel_timers()
        self._message_open = False
        kind, text = _REASONS[status]
        body = orjson.dumps(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error" if status != 503 else "overloaded_error",
                    "code": kind,
                    "message": text.format(cap=self._limits.max_head_bytes),
                },
            }
        )
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\ncontent-length: ",
            str(len(body)).encode(),
            b"\r\nconnection: close\r\n\r\n",
        ]
        transport = self.transport
        transport.write(b"".join(head) + body)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the application (if any) sees http.disconnect
            cycle.message_event.set()
        if not keep_reading:
            transport.close()
            return
        if transport.can_write_eof():
            transport.write_eof()
        self.flow.resume_reading()
        self.loop.call_later(LINGER_S, transport.close)
