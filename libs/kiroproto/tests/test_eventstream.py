"""Example-based tests for the event-stream codec (kiro-protocol.md §5) and kiroproto.errors.

Golden fixtures are fed whole and one byte at a time (random splits are in
test_eventstream_properties.py); the worked example of §5.4 is checked byte for byte; every
malformed-input case is checked against its precise DecodeError subclass.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import kiroproto
from kiroproto import ConversionError, DecodeError, KiroProtoError, eventstream
from kiroproto.errors import (
    FrameLengthError,
    HeaderError,
    MessageCRCError,
    PreludeCRCError,
    TruncatedFrameError,
)
from kiroproto.eventstream import (
    EventStreamDecoder,
    HeaderValue,
    Message,
    decode_headers,
    encode_event,
    encode_exception,
    encode_headers,
    encode_message,
)

# conftest.Golden (conftest is not importable for mypy, so fixtures are typed loosely).
Golden = Any

# §5.4 worked example, transcribed from the hex dump.
WORKED_EXAMPLE = bytes.fromhex(
    "0000007f0000005c7c7db5a80b3a6576"
    "656e742d747970650700166173736973"
    "74616e74526573706f6e73654576656e"
    "740d3a636f6e74656e742d7479706507"
    "00106170706c69636174696f6e2f6a73"
    "6f6e0d3a6d6573736167652d74797065"
    "0700056576656e747b22636f6e74656e"
    "74223a2248656c6c6f227d9b5d0635"
)
WORKED_HEADERS: dict[str, HeaderValue] = {
    ":event-type": "assistantResponseEvent",
    ":content-type": "application/json",
    ":message-type": "event",
}
WORKED_PAYLOAD = b'{"content":"Hello"}'


def decode_all(data: bytes, chunk: int | None = None) -> list[Message]:
    """Feed `data` whole (chunk=None) or in fixed-size chunks, collect messages, then close()."""
    decoder = EventStreamDecoder()
    out: list[Message] = []
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        decoder.feed(piece)
        out.extend(decoder)
    decoder.close()
    assert decoder.pending == 0
    return out


def prelude(total_length: int, headers_length: int) -> bytes:
    """A prelude with a *valid* CRC for arbitrary (possibly impossible) lengths."""
    head = struct.pack(">II", total_length, headers_length)
    return head + struct.pack(">I", zlib.crc32(head))


def raw_frame(headers: bytes, payload: bytes = b"") -> bytes:
    """A frame around arbitrary header bytes, with correct lengths and both CRCs."""
    body = prelude(16 + len(headers) + len(payload), len(headers)) + headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


# --------------------------------------------------------------------------- golden fixtures


def test_shared_fixture_folder_holds_the_five_fixtures(shared_fixtures: Path) -> None:
    stems = {p.name.removesuffix(".eventstream") for p in shared_fixtures.glob("*.eventstream")}
    assert stems == {
        "synthetic-content-length-exceeded",
        "synthetic-midstream-throttling",
        "synthetic-text-turn",
        "synthetic-thinking-turn",
        "synthetic-tool-turn",
    }


def assert_matches_manifest(golden: Golden, messages: list[Message]) -> None:
    assert len(messages) == len(golden.frames)
    for message, frame in zip(messages, golden.frames, strict=True):
        assert list(message.headers.items()) == list(frame["headers"].items())
        assert all(type(v) is str for v in message.headers.values())
        assert message.payload == frame["payload_utf8"].encode("utf-8")


def test_golden_manifest_is_self_consistent(golden: Golden) -> None:
    assert len(golden.data) == golden.byte_length
    offset = 0
    for frame in golden.frames:
        assert frame["offset"] == offset
        (total,) = struct.unpack_from(">I", golden.data, offset)
        assert total == frame["total_length"]
        offset += frame["total_length"]
    assert offset == golden.byte_length


def test_golden_fed_whole(golden: Golden) -> None:
    assert_matches_manifest(golden, decode_all(golden.data))


def test_golden_fed_byte_by_byte(golden: Golden) -> None:
    assert_matches_manifest(golden, decode_all(golden.data, chunk=1))


def test_golden_offsets_and_lengths(golden: Golden) -> None:
    """After each message, exactly offset + total_length bytes have been consumed."""
    decoder = EventStreamDecoder()
    decoder.feed(golden.data)
    for frame in golden.frames:
        message = decoder.next_message()
        assert message is not None
        assert golden.byte_length - decoder.pending == frame["offset"] + frame["total_length"]
    assert decoder.next_message() is None
    assert decoder.pending == 0


def test_golden_reencodes_byte_for_byte(golden: Golden) -> None:
    messages = decode_all(golden.data)
    encoded = [encode_message(m.headers, m.payload) for m in messages]
    for frame, raw in zip(golden.frames, encoded, strict=True):
        assert raw == golden.data[frame["offset"] : frame["offset"] + frame["total_length"]]
    assert b"".join(encoded) == golden.data


def test_golden_reencodes_with_kiro_helpers(golden: Golden) -> None:
    rebuilt = b""
    for m in decode_all(golden.data):
        if m.message_type == "exception":
            assert m.exception_type is not None
            rebuilt += encode_exception(m.exception_type, m.payload)
        else:
            assert m.event_type is not None
            rebuilt += encode_event(m.event_type, m.payload)
    assert rebuilt == golden.data


def test_midstream_exception_fixture_types(shared_fixtures: Path) -> None:
    messages = decode_all((shared_fixtures / "synthetic-midstream-throttling.eventstream").read_bytes())
    assert [m.message_type for m in messages] == ["event", "exception"]
    assert messages[0].event_type == "assistantResponseEvent"
    assert messages[0].exception_type is None
    assert messages[1].exception_type == "ThrottlingException"
    assert messages[1].event_type is None


# --------------------------------------------------------------------------- §5.4 worked example


def test_worked_example_encodes_to_the_listed_bytes() -> None:
    assert len(WORKED_EXAMPLE) == 127
    assert encode_event("assistantResponseEvent", WORKED_PAYLOAD) == WORKED_EXAMPLE
    assert encode_message(WORKED_HEADERS, WORKED_PAYLOAD) == WORKED_EXAMPLE


def test_worked_example_fields() -> None:
    total, headers_length, prelude_crc = struct.unpack_from(">III", WORKED_EXAMPLE)
    assert (total, headers_length, prelude_crc) == (127, 92, 0x7C7DB5A8)
    assert struct.unpack_from(">I", WORKED_EXAMPLE, 123) == (0x9B5D0635,)
    assert len(encode_headers(WORKED_HEADERS)) == 92


def test_worked_example_is_the_first_text_turn_frame(shared_fixtures: Path) -> None:
    data = (shared_fixtures / "synthetic-text-turn.eventstream").read_bytes()
    assert data[:127] == WORKED_EXAMPLE


def test_worked_example_decodes() -> None:
    (message,) = decode_all(WORKED_EXAMPLE)
    assert message == Message(headers=WORKED_HEADERS, payload=WORKED_PAYLOAD)
    assert message.message_type == "event"
    assert message.event_type == "assistantResponseEvent"


def test_crc_is_zlib_crc32_check_value() -> None:
    assert zlib.crc32(b"123456789") == 0xCBF43926


# --------------------------------------------------------------------------- decoder behaviour


def test_empty_stream() -> None:
    decoder = EventStreamDecoder()
    assert decoder.next_message() is None
    assert list(decoder) == []
    decoder.close()


def test_feed_accepts_bytes_like_and_ignores_empty_chunks() -> None:
    decoder = EventStreamDecoder()
    decoder.feed(b"")
    decoder.feed(bytearray(WORKED_EXAMPLE[:10]))
    decoder.feed(memoryview(WORKED_EXAMPLE)[10:])
    decoder.feed(b"")
    assert decoder.pending == 127
    assert decoder.next_message() == Message(WORKED_HEADERS, WORKED_PAYLOAD)
    assert decoder.pending == 0


def test_several_messages_in_one_chunk_and_a_partial_one() -> None:
    second = encode_exception("ThrottlingException", b'{"message":"Rate exceeded"}')
    decoder = EventStreamDecoder()
    decoder.feed(WORKED_EXAMPLE + second + WORKED_EXAMPLE[:50])
    messages = list(decoder)
    assert [m.message_type for m in messages] == ["event", "exception"]
    assert decoder.pending == 50
    assert decoder.next_message() is None
    decoder.feed(WORKED_EXAMPLE[50:])
    assert decoder.next_message() == messages[0]
    decoder.close()


def test_minimal_message_has_no_headers_and_no_payload() -> None:
    raw = encode_message({})
    assert len(raw) == 16
    (message,) = decode_all(raw)
    assert message == Message()
    assert message.message_type == "event"  # missing :message-type defaults to event
    assert message.event_type is None


def test_header_str_ignores_non_string_values() -> None:
    message = Message(headers={":event-type": b"bytes", ":message-type": True})
    assert message.header_str(":event-type") is None
    assert message.event_type is None
    assert message.message_type == "event"
    assert message.header_str("absent") is None


UUID = uuid.UUID("12345678-1234-5678-9abc-def012345678")
WHEN = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "wire", "decoded"),
    [
        (True, b"\x00", True),
        (False, b"\x01", False),
        (eventstream.Int8(-2), b"\x02\xfe", -2),
        (eventstream.Int16(-2), b"\x03\xff\xfe", -2),
        (eventstream.Int32(0x01020304), b"\x04\x01\x02\x03\x04", 0x01020304),
        (-2, b"\x05" + b"\xff" * 7 + b"\xfe", -2),
        (b"\x00\xff", b"\x06\x00\x02\x00\xff", b"\x00\xff"),
        ("h\u00e9", b"\x07\x00\x03h\xc3\xa9", "h\u00e9"),
        (WHEN, b"\x08" + struct.pack(">q", 1714979289123), WHEN),
        (UUID, b"\x09" + UUID.bytes, UUID),
    ],
    ids=["true", "false", "byte", "short", "integer", "long", "bytes", "string", "timestamp", "uuid"],
)
def test_every_header_type_on_the_wire(value: HeaderValue, wire: bytes, decoded: object) -> None:
    raw = encode_headers({"h": value})
    assert raw == b"\x01h" + wire
    headers = decode_headers(raw)
    assert headers == {"h": decoded}
    assert type(headers["h"]) is type(decoded)
    (message,) = decode_all(encode_message({"h": value}, b"p"))
    assert message.headers == {"h": decoded}
    assert message.payload == b"p"


def test_header_type_codes() -> None:
    assert [t.value for t in eventstream.HeaderType] == list(range(10))


def test_timestamp_keeps_milliseconds_far_from_the_epoch() -> None:
    # Regression: decoding via float seconds lost the millisecond part outside ~1900-2100.
    for when in (
        datetime(1, 1, 1, 0, 0, 0, 1000, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    ):
        assert decode_headers(encode_headers({"t": when})) == {"t": when}


# --------------------------------------------------------------------------- prelude and CRC errors


@pytest.mark.parametrize("index", range(12))
def test_flipped_prelude_byte_is_a_prelude_crc_error(index: int) -> None:
    decoder = EventStreamDecoder()
    decoder.feed(flip(WORKED_EXAMPLE, index))
    with pytest.raises(PreludeCRCError, match="prelude CRC"):
        decoder.next_message()


@pytest.mark.parametrize("index", [12, 50, 104, 110, 122, 123, 126])
def test_flipped_header_payload_or_crc_byte_is_a_message_crc_error(index: int) -> None:
    decoder = EventStreamDecoder()
    decoder.feed(flip(WORKED_EXAMPLE, index))
    with pytest.raises(MessageCRCError, match="message CRC"):
        decoder.next_message()


def test_message_crc_is_only_checked_once_the_message_is_complete() -> None:
    decoder = EventStreamDecoder()
    decoder.feed(flip(WORKED_EXAMPLE, 110)[:-1])
    assert decoder.next_message() is None
    decoder.feed(WORKED_EXAMPLE[-1:])
    with pytest.raises(MessageCRCError):
        decoder.next_message()


# --------------------------------------------------------------------------- length errors


@pytest.mark.parametrize("total", [0, 1, 12, 15])
def test_total_length_below_16_is_a_frame_length_error(total: int) -> None:
    decoder = EventStreamDecoder()
    decoder.feed(prelude(total, 0) + b"\x00" * 8)
    with pytest.raises(FrameLengthError, match="minimum"):
        decoder.next_message()


@pytest.mark.parametrize(("total", "headers_length"), [(16, 1), (20, 5), (127, 112), (100, 0xFFFF)])
def test_headers_length_past_the_message_is_a_frame_length_error(total: int, headers_length: int) -> None:
    decoder = EventStreamDecoder()
    decoder.feed(prelude(total, headers_length))
    with pytest.raises(FrameLengthError, match="exceeds the message length"):
        decoder.next_message()


def test_oversize_headers_length_is_rejected_from_the_prelude_alone() -> None:
    decoder = EventStreamDecoder()
    decoder.feed(prelude(16 + eventstream.MAX_HEADERS_LENGTH + 1, eventstream.MAX_HEADERS_LENGTH + 1))
    with pytest.raises(FrameLengthError, match="headers length"):
        decoder.next_message()


@pytest.mark.parametrize("total", [16 + eventstream.MAX_PAYLOAD_LENGTH + 1, 0xFFFFFFFF])
def test_oversize_payload_length_is_rejected_from_the_prelude_alone(total: int) -> None:
    decoder = EventStreamDecoder()
    decoder.feed(prelude(total, 0))
    with pytest.raises(FrameLengthError, match="payload length"):
        decoder.next_message()


def test_largest_legal_lengths_just_wait_for_data() -> None:
    decoder = EventStreamDecoder()
    decoder.feed(
        prelude(
            16 + eventstream.MAX_HEADERS_LENGTH + eventstream.MAX_PAYLOAD_LENGTH,
            eventstream.MAX_HEADERS_LENGTH,
        )
    )
    assert decoder.next_message() is None
    with pytest.raises(TruncatedFrameError):
        decoder.close()


# --------------------------------------------------------------------------- header record errors

BAD_HEADERS = {
    "zero-length name": (b"\x00\x07\x00\x00", "empty header name"),
    "name past end": (b"\x05abc", "header name runs past"),
    "name without type byte": (b"\x03abc", "header name runs past"),
    "type 10": (b"\x01a\x0a", "unknown header value type 10"),
    "type 255": (b"\x01a\xff", "unknown header value type 255"),
    "truncated byte": (b"\x01a\x02", "fixed-size header value"),
    "truncated short": (b"\x01a\x03\x00", "fixed-size header value"),
    "truncated integer": (b"\x01a\x04\x00\x00\x00", "fixed-size header value"),
    "truncated long": (b"\x01a\x05" + b"\x00" * 7, "fixed-size header value"),
    "truncated timestamp": (b"\x01a\x08" + b"\x00" * 7, "fixed-size header value"),
    "truncated uuid": (b"\x01a\x09" + b"\x00" * 15, "uuid header runs past"),
    "string length missing": (b"\x01a\x07", "value length runs past"),
    "string length truncated": (b"\x01a\x07\x00", "value length runs past"),
    "bytes length truncated": (b"\x01a\x06\x00", "value length runs past"),
    "string value truncated": (b"\x01a\x07\x00\x05abcd", "header value runs past"),
    "bytes value truncated": (b"\x01a\x06\x00\x02\x00", "header value runs past"),
    "string not utf-8": (b"\x01a\x07\x00\x02\xc3\x28", "not UTF-8"),
    "name not utf-8": (b"\x01\xff\x00", "not UTF-8"),
    "timestamp out of range": (b"\x01a\x08" + struct.pack(">q", 2**63 - 1), "timestamp header out of range"),
    "timestamp before year 1": (b"\x01a\x08" + struct.pack(">q", -(2**63)), "timestamp header out of range"),
    "second record bad": (b"\x01a\x00\x01b\x0c", "unknown header value type 12"),
    "too many headers": (b"\x01a\x00" * (eventstream.MAX_HEADER_COUNT + 1), "more than 128 headers"),
}


@pytest.mark.parametrize(("raw", "match"), BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
def test_malformed_header_record_is_a_header_error(raw: bytes, match: str) -> None:
    with pytest.raises(HeaderError, match=match):
        decode_headers(raw)
    decoder = EventStreamDecoder()
    decoder.feed(raw_frame(raw, b"{}"))
    with pytest.raises(HeaderError, match=match):
        decoder.next_message()


def test_exactly_max_header_count_is_accepted() -> None:
    raw = b"".join(bytes([3]) + b"h%02x" % i + b"\x00" for i in range(eventstream.MAX_HEADER_COUNT))
    headers = decode_headers(raw)
    assert len(headers) == eventstream.MAX_HEADER_COUNT
    assert all(v is True for v in headers.values())


def test_duplicate_header_names_keep_the_last_value() -> None:
    assert decode_headers(b"\x01a\x00\x01a\x01") == {"a": False}


# --------------------------------------------------------------------------- truncation


@pytest.mark.parametrize("cut", [1, 8, 11, 12, 13, 92, 126])
def test_truncated_stream_is_reported_by_close(cut: int) -> None:
    decoder = EventStreamDecoder()
    decoder.feed(WORKED_EXAMPLE[:cut])
    assert decoder.next_message() is None
    assert decoder.pending == cut
    with pytest.raises(TruncatedFrameError, match=f"{cut} bytes"):
        decoder.close()


def test_truncated_after_complete_messages() -> None:
    decoder = EventStreamDecoder()
    decoder.feed(WORKED_EXAMPLE * 2 + WORKED_EXAMPLE[:20])
    assert len(list(decoder)) == 2
    with pytest.raises(TruncatedFrameError):
        decoder.close()


# --------------------------------------------------------------------------- after an error


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (flip(WORKED_EXAMPLE, 0), PreludeCRCError),
        (flip(WORKED_EXAMPLE, 110), MessageCRCError),
        (prelude(15, 0), FrameLengthError),
        (raw_frame(b"\x00"), HeaderError),
    ],
    ids=["prelude-crc", "message-crc", "length", "header"],
)
def test_errors_are_sticky_and_the_decoder_stays_usable(data: bytes, error: type[DecodeError]) -> None:
    """A broken stream stays broken: later calls raise DecodeError again, never anything else.

    Regression: a HeaderError used to keep a memoryview on the buffer alive through its
    traceback, so `feed()` after a caught-and-kept HeaderError raised BufferError.
    """
    decoder = EventStreamDecoder()
    decoder.feed(data)
    with pytest.raises(error) as first:
        decoder.next_message()
    decoder.feed(WORKED_EXAMPLE)  # first.value (and its traceback) is still alive here
    with pytest.raises(error):
        decoder.next_message()
    with pytest.raises(TruncatedFrameError):
        decoder.close()
    assert isinstance(first.value, DecodeError)


# --------------------------------------------------------------------------- encoder errors


def test_encoder_rejects_header_names_of_bad_length() -> None:
    with pytest.raises(HeaderError, match="header name length 256"):
        encode_headers({"n" * 256: True})
    with pytest.raises(HeaderError, match="header name length 0"):
        encode_headers({"": True})
    with pytest.raises(HeaderError, match="header name length 256"):
        encode_headers({"\u00e9" * 128: True})  # 256 bytes of UTF-8
    assert decode_headers(encode_headers({"n" * 255: True})) == {"n" * 255: True}


@pytest.mark.parametrize("value", ["v" * 65536, b"v" * 65536, "\u00e9" * 32768])
def test_encoder_rejects_header_values_over_65535_bytes(value: str | bytes) -> None:
    with pytest.raises(HeaderError, match="longer than 65535"):
        encode_headers({"h": value})


@pytest.mark.parametrize("value", ["v" * 65535, b"v" * 65535])
def test_encoder_accepts_header_values_of_65535_bytes(value: str | bytes) -> None:
    assert decode_headers(encode_headers({"h": value})) == {"h": value}


@pytest.mark.parametrize(
    "value", [1.5, None, bytearray(b"x"), ["x"], object()], ids=lambda v: type(v).__name__
)
def test_encoder_rejects_unsupported_value_types(value: Any) -> None:
    with pytest.raises(HeaderError, match="cannot encode header value of type"):
        encode_headers({"h": value})


def test_encoder_rejects_too_many_headers() -> None:
    with pytest.raises(HeaderError, match="more than 128 headers"):
        encode_headers({f"h{i}": True for i in range(eventstream.MAX_HEADER_COUNT + 1)})


def test_encoder_rejects_a_headers_section_over_the_limit() -> None:
    headers = {f"h{i}": b"x" * 65535 for i in range(3)}  # ~196 KiB > 128 KiB
    with pytest.raises(FrameLengthError, match="headers section too long"):
        encode_message(headers)


def test_encoder_rejects_a_payload_over_the_limit() -> None:
    with pytest.raises(FrameLengthError, match="payload too long"):
        encode_message({}, b"\x00" * (eventstream.MAX_PAYLOAD_LENGTH + 1))


@pytest.mark.parametrize(
    "value", [eventstream.Int8(128), eventstream.Int16(-32769), eventstream.Int32(2**31), 2**63], ids=repr
)
def test_encoder_rejects_out_of_range_integers(value: HeaderValue) -> None:
    with pytest.raises(HeaderError):
        encode_headers({"h": value})


# --------------------------------------------------------------------------- errors module


@pytest.mark.parametrize(
    "cls", [PreludeCRCError, MessageCRCError, FrameLengthError, HeaderError, TruncatedFrameError]
)
def test_decode_errors_hierarchy_and_hints(cls: type[DecodeError]) -> None:
    err = cls("boom")
    assert isinstance(err, DecodeError)
    assert isinstance(err, KiroProtoError)
    assert err.message == "boom"
    assert str(err) == "boom"
    assert err.status_hint == 502
    assert err.error_type == "api_error"


def test_root_error_defaults() -> None:
    err = KiroProtoError("x")
    assert (err.status_hint, err.error_type, err.message) == (500, "api_error", "x")


def test_conversion_error_defaults_and_overrides() -> None:
    err = ConversionError("bad request")
    assert isinstance(err, KiroProtoError)
    assert not isinstance(err, DecodeError)
    assert (err.status_hint, err.error_type, err.message) == (400, "invalid_request_error", "bad request")
    custom = ConversionError("too big", status_hint=413, error_type="request_too_large")
    assert (custom.status_hint, custom.error_type) == (413, "request_too_large")
    assert ConversionError.status_hint == 500  # instance attributes do not leak into the class


def test_errors_are_reexported_at_the_top_level() -> None:
    names = [
        name
        for name, value in vars(kiroproto.errors).items()
        if isinstance(value, type) and issubclass(value, KiroProtoError)
    ]
    assert len(names) == 8  # every error of the tree, new ones included
    for name in names:
        assert getattr(kiroproto, name) is getattr(kiroproto.errors, name)
        assert name in kiroproto.__all__
