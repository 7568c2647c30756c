"""kiroproto.sse: encode_sse and the incremental SSEDecoder (any chunking, any line ending)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiroproto.sse import ServerSentEvent, SSEDecoder, encode_sse


def decode_all(chunks: list[bytes] | list[str]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    assert not decoder.pending
    return events


def test_encode_named_event() -> None:
    assert encode_sse("ping", b'{"type":"ping"}') == b'event: ping\ndata: {"type":"ping"}\n\n'


def test_encode_unnamed_event() -> None:
    assert encode_sse(None, b"[DONE]") == b"data: [DONE]\n\n"


def test_encode_multiline_data_uses_one_data_line_per_line() -> None:
    assert encode_sse("m", b"a\nb\r\nc\rd") == b"event: m\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
    assert decode_all([encode_sse("m", b"a\nb\r\nc\rd")]) == [ServerSentEvent("m", "a\nb\nc\nd")]


def test_decoder_fields_comments_and_defaults() -> None:
    stream = (
        b": a comment\n"
        b'event: first\nid: 7\nretry: 1500\ndata: {"a":1}\n\n'
        b"data:no-space\ndata:  two spaces\n\n"
        b"event: empty\n\n"  # no data: not dispatched, event name reset
        b"retry: soon\nid: bad\0id\nunknown: x\nfield-without-colon\ndata: z\n\n"
    )
    events = decode_all([stream])
    assert events == [
        ServerSentEvent("first", '{"a":1}', "7", 1500),
        ServerSentEvent(None, "no-space\n two spaces", "7", None),
        ServerSentEvent(None, "z", "7", None),
    ]
    assert events[0].json() == {"a": 1}


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_decoder_line_endings(newline: str) -> None:
    text = f"event: e{newline}data: 1{newline}{newline}data: 2{newline}{newline}"
    assert decode_all([text]) == [ServerSentEvent("e", "1"), ServerSentEvent(None, "2")]
    assert decode_all(list(text)) == [ServerSentEvent("e", "1"), ServerSentEvent(None, "2")]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    assert decode_all([b"data: 1\r", b"\n\r", b"\n"]) == [ServerSentEvent(None, "1")]


def test_unicode_line_separators_are_data_not_line_ends() -> None:
    data = "a\u2028b\u0085c\x0cd"
    assert decode_all([f"data: {data}\n\n".encode()]) == [ServerSentEvent(None, data)]


def test_utf8_split_inside_a_character() -> None:
    raw = "data: héllo 😀\n\n".encode()
    assert decode_all([raw[i : i + 1] for i in range(len(raw))]) == [ServerSentEvent(None, "héllo 😀")]


def test_empty_chunks_and_close_discards_an_unfinished_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"") == []
    assert decoder.feed("") == []
    assert decoder.feed(b"event: x\ndata: partial") == []
    assert decoder.pending
    decoder.close()
    assert not decoder.pending
    assert decoder.feed(b"data: next\n\n") == [ServerSentEvent(None, "next")]


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from(["a", "message_start", "ping"])), st.text(max_size=30)
        ),
        max_size=6,
    ),
    st.data(),
)
def test_roundtrip_any_split(events: list[tuple[str | None, str]], data: st.DataObject) -> None:
    stream = b"".join(encode_sse(name, text.encode()) for name, text in events)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    expected = [
        ServerSentEvent(name, text.replace("\r\n", "\n").replace("\r", "\n")) for name, text in events
    ]
    assert decode_all(chunks) == expected
