"""AWS event-stream encoder, the decoder's mirror (kiro-protocol.md §5.2-5.4).

Used by the simulator and by tests to build frames. Header values are encoded by Python
type: bool → 0/1, Int8/Int16/Int32 → 2/3/4, int → 5 (i64), bytes → 6, str → 7,
datetime → 8 (ms since epoch), uuid.UUID → 9.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Mapping
from datetime import datetime

from kiroproto.errors import FrameLengthError, HeaderError
from kiroproto.eventstream._frame import (
    INT_FORMATS,
    MAX_HEADER_COUNT,
    MAX_HEADER_NAME_LENGTH,
    MAX_HEADER_VALUE_LENGTH,
    MAX_HEADERS_LENGTH,
    MAX_PAYLOAD_LENGTH,
    MIN_MESSAGE_LENGTH,
    HeaderType,
    HeaderValue,
    Int8,
    Int16,
    Int32,
)

_JSON = "application/json"


def encode_headers(headers: Mapping[str, HeaderValue]) -> bytes:
    if len(headers) > MAX_HEADER_COUNT:
        raise HeaderError(f"more than {MAX_HEADER_COUNT} headers")
    out = bytearray()
    for name, value in headers.items():
        raw_name = name.encode("utf-8")
        if not 1 <= len(raw_name) <= MAX_HEADER_NAME_LENGTH:
            raise HeaderError(f"header name length {len(raw_name)} not in 1..255")
        out.append(len(raw_name))
        out += raw_name
        out += _encode_value(value)
    return bytes(out)


def _encode_value(value: HeaderValue) -> bytes:
    try:
        return _encode_value_unchecked(value)
    except struct.error as exc:
        raise HeaderError(f"header value out of range for its type: {value!r}") from exc


def _encode_value_unchecked(value: HeaderValue) -> bytes:
    if value is True:
        return bytes([HeaderType.BOOL_TRUE])
    if value is False:
        return bytes([HeaderType.BOOL_FALSE])
    if isinstance(value, Int8 | Int16 | Int32):
        return bytes([value.header_type]) + struct.pack(INT_FORMATS[value.header_type], value.value)
    if isinstance(value, int):
        return bytes([HeaderType.LONG]) + struct.pack(INT_FORMATS[HeaderType.LONG], value)
    if isinstance(value, bytes | str):
        raw = value.encode("utf-8") if isinstance(value, str) else value
        if len(raw) > MAX_HEADER_VALUE_LENGTH:
            raise HeaderError("header value longer than 65535 bytes")
        code = HeaderType.STRING if isinstance(value, str) else HeaderType.BYTE_ARRAY
        return bytes([code]) + struct.pack(">H", len(raw)) + raw
    if isinstance(value, datetime):
        return bytes([HeaderType.TIMESTAMP]) + struct.pack(">q", round(value.timestamp() * 1000))
    if isinstance(value, uuid.UUID):
        return bytes([HeaderType.UUID]) + value.bytes
    raise HeaderError(f"cannot encode header value of type {type(value).__name__}")


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes = b"") -> bytes:
    """One complete message: prelude, prelude CRC, headers, payload, message CRC."""
    raw_headers = encode_headers(headers)
    if len(raw_headers) > MAX_HEADERS_LENGTH:
        raise FrameLengthError("headers section too long")
    if len(payload) > MAX_PAYLOAD_LENGTH:
        raise FrameLengthError("payload too long")
    total = MIN_MESSAGE_LENGTH + len(raw_headers) + len(payload)
    prelude = struct.pack(">II", total, len(raw_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + raw_headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def encode_event(event_type: str, payload: bytes) -> bytes:
    """A Kiro event message, headers in the upstream's order (§5.3)."""
    return encode_message(
        {":event-type": event_type, ":content-type": _JSON, ":message-type": "event"}, payload
    )


def encode_exception(exception_type: str, payload: bytes) -> bytes:
    """A Kiro in-stream exception message (§5.6)."""
    return encode_message(
        {":exception-type": exception_type, ":content-type": _JSON, ":message-type": "exception"},
        payload,
    )
