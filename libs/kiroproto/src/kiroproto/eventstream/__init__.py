"""AWS event-stream codec: push-style decoder and symmetric encoder (sans-IO)."""

from kiroproto.eventstream._frame import (
    MAX_HEADER_COUNT,
    MAX_HEADERS_LENGTH,
    MAX_MESSAGE_LENGTH,
    MAX_PAYLOAD_LENGTH,
    HeaderType,
    HeaderValue,
    Int8,
    Int16,
    Int32,
    Message,
)
from kiroproto.eventstream.decoder import EventStreamDecoder, HeaderCache, decode_headers
from kiroproto.eventstream.encoder import encode_event, encode_exception, encode_headers, encode_message

__all__ = [
    "MAX_HEADERS_LENGTH",
    "MAX_HEADER_COUNT",
    "MAX_MESSAGE_LENGTH",
    "MAX_PAYLOAD_LENGTH",
    "EventStreamDecoder",
    "HeaderCache",
    "HeaderType",
    "HeaderValue",
    "Int8",
    "Int16",
    "Int32",
    "Message",
    "decode_headers",
    "encode_event",
    "encode_exception",
    "encode_headers",
    "encode_message",
]
