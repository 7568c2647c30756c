"""Property tests for the event-stream codec (h11's fuzz invariant, kiro-protocol.md §5.5).

- encode → decode round-trips any headers (every value type) and payload;
- any split of a valid stream decodes exactly like the whole stream (golden fixtures too);
- any bytes, in any chunks, either decode or raise a DecodeError subclass, nothing else,
  including on later calls and from close().

Hypothesis runs derandomized with no example database, so the suite is deterministic.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiroproto.errors import DecodeError, TruncatedFrameError
from kiroproto.eventstream import (
    EventStreamDecoder,
    HeaderCache,
    HeaderValue,
    Int8,
    Int16,
    Int32,
    Message,
    decode_headers,
    encode_message,
)

deterministic = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow],
)

# ----------------------------------------------------------------------------- strategies

header_names = st.one_of(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=60),  # ≤ 240 bytes of UTF-8
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=255),
)


def _ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


header_values = st.one_of(
    st.booleans(),
    st.integers(-(2**7), 2**7 - 1).map(Int8),
    st.integers(-(2**15), 2**15 - 1).map(Int16),
    st.integers(-(2**31), 2**31 - 1).map(Int32),
    st.integers(-(2**63), 2**63 - 1),
    st.binary(max_size=300),
    st.text(max_size=100),
    st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31, 23, 59, 59, 999000),
        timezones=st.just(UTC),
    ).map(_ms),
    st.uuids(),
)

headers_st = st.dictionaries(header_names, header_values, max_size=8)
payloads = st.binary(max_size=2000)
messages_st = st.lists(st.tuples(headers_st, payloads), max_size=6)


def expected(value: object) -> tuple[type, object]:
    """What the decoder gives back for an encoded value, type included (True is not 1)."""
    if isinstance(value, Int8 | Int16 | Int32):
        return int, value.value
    return type(value), value


def typed(headers: Mapping[str, HeaderValue]) -> list[tuple[str, type, object]]:
    return [(name, *expected(value)) for name, value in headers.items()]


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def chunked(data: bytes) -> st.SearchStrategy[list[bytes]]:
    return st.lists(st.integers(0, max(len(data), 0)), max_size=40).map(lambda cuts: split(data, cuts))


def decode_chunks(chunks: list[bytes]) -> list[Message]:
    decoder = EventStreamDecoder()
    out: list[Message] = []
    for chunk in chunks:
        decoder.feed(chunk)
        out.extend(decoder)
    decoder.close()
    return out


# ----------------------------------------------------------------------------- round trips


@deterministic
@given(headers=headers_st, payload=payloads)
def test_round_trip_one_message(headers: dict[str, HeaderValue], payload: bytes) -> None:
    raw = encode_message(headers, payload)
    assert len(raw) == struct.unpack_from(">I", raw)[0]
    (message,) = decode_chunks([raw])
    assert typed(message.headers) == typed(headers)
    assert message.payload == payload
    assert typed(decode_headers(raw[12 : 12 + struct.unpack_from(">I", raw, 4)[0]])) == typed(headers)


@deterministic
@given(data=st.data(), messages=messages_st)
def test_any_split_of_a_valid_stream_decodes_identically(
    data: st.DataObject, messages: list[tuple[dict[str, HeaderValue], bytes]]
) -> None:
    stream = b"".join(encode_message(h, p) for h, p in messages)
    whole = decode_chunks([stream])
    assert [(typed(m.headers), m.payload) for m in whole] == [(typed(h), p) for h, p in messages]
    chunks = data.draw(chunked(stream), label="chunks")
    assert b"".join(chunks) == stream
    assert decode_chunks(chunks) == whole


@deterministic
@given(data=st.data())
def test_golden_fixture_random_splits(golden: Any, data: st.DataObject) -> None:
    chunks = data.draw(chunked(golden.data), label="chunks")
    messages = decode_chunks(chunks)
    assert [(list(m.headers.items()), m.payload) for m in messages] == [
        (list(f["headers"].items()), f["payload_utf8"].encode("utf-8")) for f in golden.frames
    ]
    assert b"".join(encode_message(m.headers, m.payload) for m in messages) == golden.data


# ----------------------------------------------------------------------------- fuzz invariant


def drive(chunks: list[bytes]) -> tuple[list[Message], list[DecodeError]]:
    """Feed every chunk, draining after each; collect DecodeErrors and keep going.

    Any exception other than DecodeError propagates and fails the test. Once the decoder has
    raised, it must keep raising DecodeError (no silent resynchronisation).
    """
    decoder = EventStreamDecoder()
    messages: list[Message] = []
    errors: list[DecodeError] = []  # kept alive on purpose (tracebacks must not pin the buffer)
    for chunk in chunks:
        decoder.feed(chunk)
        try:
            messages.extend(decoder)
        except DecodeError as exc:
            errors.append(exc)
        if errors:
            try:
                decoder.next_message()
            except DecodeError as exc:
                errors.append(exc)
            else:
                raise AssertionError("decoder returned to normal after a DecodeError")
    try:
        decoder.close()
    except DecodeError as exc:
        errors.append(exc)
        assert isinstance(exc, TruncatedFrameError)
    return messages, errors


def _with_crcs(prelude_lengths: tuple[int, int], rest: bytes) -> bytes:
    head = struct.pack(">II", *prelude_lengths)
    return head + struct.pack(">I", zlib.crc32(head)) + rest


@st.composite
def hostile_streams(draw: st.DrawFn) -> bytes:
    """Byte strings that get past the CRC checks often enough to exercise the parsers."""
    kind = draw(st.sampled_from(["random", "mutated", "valid-crc-headers", "valid-crc-prelude"]))
    if kind == "random":
        return draw(st.binary(max_size=400))
    if kind == "mutated":
        messages = draw(st.lists(st.tuples(headers_st, st.binary(max_size=50)), min_size=1, max_size=3))
        stream = bytearray(b"".join(encode_message(h, p) for h, p in messages))
        for _ in range(draw(st.integers(0, 4))):
            op = draw(st.sampled_from(["flip", "cut", "insert"]))
            pos = draw(st.integers(0, len(stream)))
            if op == "flip" and pos < len(stream):
                stream[pos] ^= 1 << draw(st.integers(0, 7))
            elif op == "cut":
                del stream[pos:]
            else:
                stream[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        return bytes(stream)
    if kind == "valid-crc-headers":
        # Arbitrary header bytes inside a frame whose lengths and CRCs are all correct.
        frames = b""
        for raw_headers, payload in draw(
            st.lists(st.tuples(st.binary(max_size=120), st.binary(max_size=20)), min_size=1, max_size=3)
        ):
            body = _with_crcs((16 + len(raw_headers) + len(payload), len(raw_headers)), raw_headers + payload)
            frames += body + struct.pack(">I", zlib.crc32(body))
        return frames
    # Arbitrary (often impossible) lengths behind a valid prelude CRC.
    lengths = (draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1)))
    small = (draw(st.integers(0, 64)), draw(st.integers(0, 64)))
    return _with_crcs(draw(st.sampled_from([lengths, small])), draw(st.binary(max_size=64)))


@settings(deterministic, max_examples=600)
@given(data=st.data(), stream=hostile_streams())
def test_any_bytes_decode_or_raise_decode_error_only(data: st.DataObject, stream: bytes) -> None:
    chunks = data.draw(chunked(stream), label="chunks")
    messages, errors = drive(chunks)
    if not errors:
        # Whatever decoded must re-encode to a stream that decodes to the same messages.
        again = decode_chunks([encode_message(m.headers, m.payload) for m in messages])
        assert [(typed(m.headers), m.payload) for m in again] == [
            (typed(m.headers), m.payload) for m in messages
        ]
    # Splits never matter, for garbage either.
    whole_messages, whole_errors = drive([stream])
    assert whole_messages == messages
    assert [type(e) for e in whole_errors[:1]] == [type(e) for e in errors[:1]]


@deterministic
@given(raw=st.binary(max_size=300))
def test_decode_headers_on_any_bytes_returns_or_raises_header_error(raw: bytes) -> None:
    try:
        headers = decode_headers(raw)
    except DecodeError:
        return
    assert isinstance(headers, dict)


@deterministic
@given(messages_st, messages_st)
def test_decoders_sharing_a_header_cache_decode_like_their_own(
    first: list[tuple[dict[str, HeaderValue], bytes]], second: list[tuple[dict[str, HeaderValue], bytes]]
) -> None:
    """The gateway shares one cache between the decoders of all its answers: what each decodes
    is what a decoder with its own cache gives (the cache is keyed by the exact header bytes)."""
    shared = HeaderCache(size=4)  # small: the bound is reached and entries stop being added
    for batch in (first, second, first):
        body = b"".join(encode_message(h, p) for h, p in batch)
        alone, together = EventStreamDecoder(), EventStreamDecoder(shared)
        alone.feed(body)
        together.feed(body)
        assert [(dict(m.headers), m.payload) for m in together] == [
            (dict(m.headers), m.payload) for m in alone
        ]
