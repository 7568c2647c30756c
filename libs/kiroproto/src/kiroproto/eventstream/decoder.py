"""Push-style AWS event-stream decoder (kiro-protocol.md §5.5).

Feed any byte chunks with `feed()`; take complete messages with `next_message()` (None means
"need more data") or by iterating. Split points never matter: one byte at a time, random
chunks, or the whole body at once decode identically. The prelude CRC is checked before the
lengths are trusted, then the message CRC. Any malformed input raises a `DecodeError`
subclass and nothing else. `close()` reports a stream that ended inside a frame.

Deliberately not here: resynchronisation after corruption (the upstream is TLS-protected, so
a bad CRC means a broken stream, which the gateway treats as an upstream failure), sockets.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from kiroproto.errors import (
    FrameLengthError,
    HeaderError,
    MessageCRCError,
    PreludeCRCError,
    TruncatedFrameError,
)
from kiroproto.eventstream._frame import (
    INT_FORMATS,
    MAX_HEADER_COUNT,
    MAX_HEADERS_LENGTH,
    MAX_PAYLOAD_LENGTH,
    MIN_MESSAGE_LENGTH,
    PRELUDE_LENGTH,
    HeaderType,
    HeaderValue,
    Message,
)

_PRELUDE = struct.Struct(">III")
# Plain ints: comparing against IntEnum members is measurably slower on the hot path.
_T_BOOL_TRUE = int(HeaderType.BOOL_TRUE)
_T_BOOL_FALSE = int(HeaderType.BOOL_FALSE)
_T_BYTE_ARRAY = int(HeaderType.BYTE_ARRAY)
_T_STRING = int(HeaderType.STRING)
_T_TIMESTAMP = int(HeaderType.TIMESTAMP)
_T_UUID = int(HeaderType.UUID)
# Kiro repeats the same few header sections on every message; decoded sections are cached
# per decoder (bounded) and shared read-only between messages.
_HEADER_CACHE_SIZE = 64
_U32 = struct.Struct(">I")


def decode_headers(data: bytes | memoryview) -> dict[str, HeaderValue]:
    """Decode a headers section (§5.3). Raises HeaderError on any malformed record."""
    headers: dict[str, HeaderValue] = {}
    view = memoryview(data)
    pos = 0
    end = len(view)
    count = 0
    try:
        while pos < end:
            count += 1
            if count > MAX_HEADER_COUNT:
                raise HeaderError(f"more than {MAX_HEADER_COUNT} headers")
            name_len = view[pos]
            pos += 1
            if name_len == 0:
                raise HeaderError("empty header name")
            if pos + name_len + 1 > end:
                raise HeaderError("header name runs past the headers section")
            name = bytes(view[pos : pos + name_len]).decode("utf-8")
            pos += name_len
            type_code = view[pos]
            pos += 1
            value: HeaderValue
            if type_code == _T_BOOL_TRUE:
                value = True
            elif type_code == _T_BOOL_FALSE:
                value = False
            elif type_code in INT_FORMATS:
                value, pos = _fixed(view, pos, end, INT_FORMATS[type_code])
            elif type_code in (_T_BYTE_ARRAY, _T_STRING):
                if pos + 2 > end:
                    raise HeaderError("header value length runs past the headers section")
                (length,) = struct.unpack_from(">H", view, pos)
                pos += 2
                if pos + length > end:
                    raise HeaderError("header value runs past the headers section")
                raw = bytes(view[pos : pos + length])
                pos += length
                value = raw.decode("utf-8") if type_code == _T_STRING else raw
            elif type_code == _T_TIMESTAMP:
                millis, pos = _fixed(view, pos, end, ">q")
                try:
                    value = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
                except (OverflowError, OSError, ValueError) as exc:
                    raise HeaderError(f"timestamp header out of range: {millis}") from exc
            elif type_code == _T_UUID:
                if pos + 16 > end:
                    raise HeaderError("uuid header runs past the headers section")
                value = uuid.UUID(bytes=bytes(view[pos : pos + 16]))
                pos += 16
            else:
                raise HeaderError(f"unknown header value type {type_code}")
            headers[name] = value
    except UnicodeDecodeError as exc:
        raise HeaderError("header name or string value is not UTF-8") from exc
    return headers


def _fixed(view: memoryview, pos: int, end: int, fmt: str) -> tuple[int, int]:
    size = struct.calcsize(fmt)
    if pos + size > end:
        raise HeaderError("fixed-size header value runs past the headers section")
    (value,) = struct.unpack_from(fmt, view, pos)
    return int(value), pos + size


class HeaderCache:
    """Decoded header sections by their bytes (at most `size`, first come first kept). A stream's
    frames repeat a few header sections; one cache shared by the decoders of many short streams
    (the gateway's, one per upstream answer) decodes each section once per process."""

    __slots__ = ("_entries", "_size")

    def __init__(self, size: int = _HEADER_CACHE_SIZE) -> None:
        self._entries: dict[bytes, Mapping[str, HeaderValue]] = {}
        self._size = size

    def decode(self, raw: bytes) -> Mapping[str, HeaderValue]:
        headers = self._entries.get(raw)
        if headers is None:
            headers = MappingProxyType(decode_headers(raw))
            if len(self._entries) < self._size:
                self._entries[raw] = headers
        return headers


class EventStreamDecoder:
    """Buffers bytes and yields complete, verified messages. `header_cache`: decoded header
    sections shared with other decoders (one of its own otherwise)."""

    __slots__ = ("_buffer", "_headers", "_start")

    def __init__(self, header_cache: HeaderCache | None = None) -> None:
        self._buffer = bytearray()
        self._start = 0  # read offset into _buffer; compacted lazily
        self._headers = header_cache if header_cache is not None else HeaderCache()

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if data:
            self._buffer += data

    @property
    def pending(self) -> int:
        """Bytes buffered that do not yet form a whole message."""
        return len(self._buffer) - self._start

    def next_message(self) -> Message | None:
        buf = self._buffer
        start = self._start
        available = len(buf) - start
        if available < PRELUDE_LENGTH:
            self._compact()
            return None
        total_length, headers_length, prelude_crc = _PRELUDE.unpack_from(buf, start)
        if zlib.crc32(memoryview(buf)[start : start + 8]) != prelude_crc:
            raise PreludeCRCError("prelude CRC mismatch")
        if total_length < MIN_MESSAGE_LENGTH:
            raise FrameLengthError(f"message length {total_length} below the 16-byte minimum")
        if headers_length > MAX_HEADERS_LENGTH:
            raise FrameLengthError(f"headers length {headers_length} over {MAX_HEADERS_LENGTH}")
        payload_length = total_length - headers_length - MIN_MESSAGE_LENGTH
        if payload_length < 0:
            raise FrameLengthError("headers length exceeds the message length")
        if payload_length > MAX_PAYLOAD_LENGTH:
            raise FrameLengthError(f"payload length {payload_length} over {MAX_PAYLOAD_LENGTH}")
        if available < total_length:
            self._compact()
            return None
        end = start + total_length
        view = memoryview(buf)
        try:
            (message_crc,) = _U32.unpack_from(buf, end - 4)
            if zlib.crc32(view[start : end - 4]) != message_crc:
                raise MessageCRCError("message CRC mismatch")
            headers_start = start + PRELUDE_LENGTH
            payload_start = headers_start + headers_length
            headers = self._headers.decode(bytes(view[headers_start:payload_start]))
            payload = bytes(view[payload_start : end - 4])
        finally:
            view.release()
        self._start = end
        return Message(headers=headers, payload=payload)

    def __iter__(self) -> Iterator[Message]:
        while (message := self.next_message()) is not None:
            yield message

    def close(self) -> None:
        """Declare the end of the stream; raises if it ended inside a frame."""
        if self.pending:
            raise TruncatedFrameError(f"stream ended with {self.pending} bytes of an incomplete message")

    def _compact(self) -> None:
        if self._start:
            del self._buffer[: self._start]
            self._start = 0
