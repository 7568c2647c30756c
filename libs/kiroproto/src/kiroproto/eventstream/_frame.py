"""AWS event-stream frame layout (kiro-protocol.md §5.2-5.3).

    offset  size  field
    0       4     total_length   u32 BE, whole message incl. both CRCs
    4       4     headers_length u32 BE
    8       4     prelude_crc    CRC-32 of bytes 0..7
    12      H     headers        records: u8 name len, name, u8 type, value
    12+H    P     payload        P = total_length - H - 16
    T-4     4     message_crc    CRC-32 of bytes 0..T-5 (prelude incl. its CRC, headers, payload)

CRC-32 is zlib's (ISO-HDLC). This module holds the constants and the typed message; it does
no buffering (see decoder.py) and no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import ClassVar

PRELUDE_LENGTH = 12  # total_length, headers_length, prelude_crc
MESSAGE_CRC_LENGTH = 4
MIN_MESSAGE_LENGTH = PRELUDE_LENGTH + MESSAGE_CRC_LENGTH  # 16: empty headers, empty payload
# Limits as botocore's EventStreamBuffer and kiro.rs use them.
MAX_HEADERS_LENGTH = 128 * 1024
MAX_PAYLOAD_LENGTH = 16 * 1024 * 1024
MAX_MESSAGE_LENGTH = MIN_MESSAGE_LENGTH + MAX_HEADERS_LENGTH + MAX_PAYLOAD_LENGTH
MAX_HEADER_COUNT = 128
MAX_HEADER_NAME_LENGTH = 255
MAX_HEADER_VALUE_LENGTH = 0xFFFF


class HeaderType(IntEnum):
    BOOL_TRUE = 0
    BOOL_FALSE = 1
    BYTE = 2
    SHORT = 3
    INTEGER = 4
    LONG = 5
    BYTE_ARRAY = 6
    STRING = 7
    TIMESTAMP = 8
    UUID = 9


INT_FORMATS: Mapping[int, str] = {
    HeaderType.BYTE: ">b",
    HeaderType.SHORT: ">h",
    HeaderType.INTEGER: ">i",
    HeaderType.LONG: ">q",
}
"""The `struct` format of each integer header type (2-5), for the encoder and the decoder."""


@dataclass(frozen=True, slots=True)
class _NarrowInt:
    """A header value to be encoded as the integer type `header_type` instead of i64."""

    value: int
    header_type: ClassVar[HeaderType]


class Int8(_NarrowInt):
    __slots__ = ()
    header_type = HeaderType.BYTE


class Int16(_NarrowInt):
    __slots__ = ()
    header_type = HeaderType.SHORT


class Int32(_NarrowInt):
    __slots__ = ()
    header_type = HeaderType.INTEGER


# Decoded header values: bool, int (types 2-5), bytes, str, datetime (UTC), uuid.UUID.
# Plain `int` encodes as type 5 (i64); wrap in Int8/Int16/Int32 for the narrower types.
HeaderValue = bool | int | bytes | str | datetime | uuid.UUID | Int8 | Int16 | Int32


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded event-stream message. Header order is kept as on the wire."""

    headers: Mapping[str, HeaderValue] = field(default_factory=dict)
    payload: bytes = b""

    def header_str(self, name: str) -> str | None:
        value = self.headers.get(name)
        return value if isinstance(value, str) else None

    @property
    def message_type(self) -> str:
        """`:message-type`; kiro.rs treats a missing one as `event`."""
        return self.header_str(":message-type") or "event"

    @property
    def event_type(self) -> str | None:
        return self.header_str(":event-type")

    @property
    def exception_type(self) -> str | None:
        return self.header_str(":exception-type")
