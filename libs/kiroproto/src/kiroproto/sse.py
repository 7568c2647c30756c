"""Server-sent events: `encode_sse` and a pure incremental `SSEDecoder` (WHATWG HTML, "Server-sent events").

`encode_sse(event, data)` writes one event: an optional `event:` line, one `data:` line per line
of `data`, and the blank line that dispatches it. `SSEDecoder.feed()` takes bytes or text in
any chunking (a line may be split anywhere, `\\r\\n` across two chunks included) and returns the
events completed so far; `close()` ends the stream (an event without its blank line is
dropped, as the spec says; `pending` tells whether one is buffered). Comment lines (`: ...`)
are ignored; `id` and `retry` are kept.

Deliberately not here: sockets, reconnection, JSON (see `ServerSentEvent.json()`), rendering of
particular APIs (`kiroproto.stream`).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Any

import orjson


def encode_sse(event: str | None, data: bytes) -> bytes:
    """One SSE event. `data` may contain newlines (each line becomes its own `data:` line)."""
    if b"\n" in data or b"\r" in data:
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        body = b"".join(b"data: " + line + b"\n" for line in lines)
    else:
        body = b"data: " + data + b"\n"
    if event is None:
        return body + b"\n"
    return b"event: " + event.encode() + b"\n" + body + b"\n"


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """A dispatched event. `event` is None when the stream gave no `event:` field ("message")."""

    event: str | None
    data: str
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        return orjson.loads(self.data)


class SSEDecoder:
    """Incremental SSE parser: feed chunks, get the events they complete."""

    __slots__ = ("_utf8", "_partial", "_cr", "_event", "_data", "_id", "_retry")

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""  # an unterminated line
        self._cr = False  # the last chunk ended in "\r": a "\n" starting the next one is its pair
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes | str) -> list[ServerSentEvent]:
        text = self._utf8.decode(chunk) if isinstance(chunk, bytes) else chunk
        if not text:
            return []
        if self._cr and text[0] == "\n":
            text = text[1:]  # the "\n" of a "\r\n" split across chunks
        self._cr = text.endswith("\r")
        # Only CR, LF and CRLF end lines here (str.splitlines would also split on U+2028 ...).
        lines = (self._partial + text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self._partial = lines.pop()
        events: list[ServerSentEvent] = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    @property
    def pending(self) -> bool:
        """True while an unterminated line or an undispatched event is buffered."""
        return bool(self._partial or self._data or self._event is not None)

    def close(self) -> None:
        """End of stream: a trailing event without its blank line is discarded (spec)."""
        self._utf8.reset()
        self._partial = ""
        self._cr = False
        self._reset()

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry":
            if value.isdigit():
                self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data:
            self._reset()
            return None
        event = ServerSentEvent(self._event, "\n".join(self._data), self._id, self._retry)
        self._reset()
        return event

    def _reset(self) -> None:
        self._event = None
        self._data = []
        self._retry = None
