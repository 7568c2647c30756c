"""parse_kiro_message: one typed event per upstream message (kiro-protocol.md §5.6)."""

from __future__ import annotations

import pytest

from kiroproto.errors import DecodeError
from kiroproto.eventstream import EventStreamDecoder, Message, encode_event, encode_exception, encode_message
from kiroproto.stream import (
    ContextUsage,
    Ignored,
    Metering,
    ReasoningFragment,
    TextFragment,
    ToolUseFragment,
    UpstreamException,
    parse_kiro_message,
)


def event(event_type: str, payload: bytes) -> Message:
    return Message(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}, payload
    )


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (event("assistantResponseEvent", b'{"content":"Hel"}'), TextFragment("Hel")),
        (event("assistantResponseEvent", b'{"content":"x","modelId":"m"}'), TextFragment("x")),
        (event("assistantResponseEvent", b"{}"), TextFragment("")),
        (
            event("toolUseEvent", b'{"name":"Read","toolUseId":"tooluse_1"}'),
            ToolUseFragment("tooluse_1", "Read", None, False),
        ),
        (
            event("toolUseEvent", b'{"input":"{\\"a","name":"Read","toolUseId":"tooluse_1"}'),
            ToolUseFragment("tooluse_1", "Read", '{"a', False),
        ),
        (
            event("toolUseEvent", b'{"input":{"a":1},"toolUseId":"t"}'),
            ToolUseFragment("t", "", '{"a":1}', False),
        ),
        (
            event("toolUseEvent", b'{"name":"Read","stop":true,"toolUseId":"tooluse_1"}'),
            ToolUseFragment("tooluse_1", "Read", None, True),
        ),
        (event("contextUsageEvent", b'{"contextUsagePercentage":12.5}'), ContextUsage(12.5)),
        (event("contextUsageEvent", b'{"contextUsagePercentage":3}'), ContextUsage(3.0)),
        (
            event("meteringEvent", b'{"unit":"credit","unitPlural":"credits","usage":0.0148}'),
            Metering(0.0148, "credit"),
        ),
        (event("meteringEvent", b'{"usage":1}'), Metering(1.0, "credit")),
        (
            event("reasoningContentEvent", b'{"text":"hmm","signature":"sig"}'),
            ReasoningFragment("hmm", "sig"),
        ),
        (event("reasoningContentEvent", b'{"redactedContent":"AAAA"}'), ReasoningFragment("", None)),
        (
            event("invalidStateEvent", b'{"reason":"INVALID_TASK_ASSIST_PLAN","message":"bad plan"}'),
            UpstreamException("invalidStateEvent", "bad plan", "INVALID_TASK_ASSIST_PLAN"),
        ),
        (event("invalidStateEvent", b"{}"), UpstreamException("invalidStateEvent", "invalid state", None)),
        (event("messageMetadataEvent", b'{"conversationId":"c"}'), Ignored("messageMetadataEvent")),
        (event("followupPromptEvent", b"not even json"), Ignored("followupPromptEvent")),
        (Message({":message-type": "event"}, b"{}"), Ignored("")),
        (
            Message({":event-type": "assistantResponseEvent"}, b'{"content":"no type"}'),
            TextFragment("no type"),
        ),
    ],
)
def test_events(message: Message, expected: object) -> None:
    assert parse_kiro_message(message) == expected


def decode_all(data: bytes) -> list[Message]:
    decoder = EventStreamDecoder()
    decoder.feed(data)
    return list(decoder)


def test_exceptions_and_errors() -> None:
    [throttle] = decode_all(
        encode_exception(
            "ThrottlingException", b'{"message":"Rate exceeded","reason":"INSUFFICIENT_MODEL_CAPACITY"}'
        )
    )
    assert parse_kiro_message(throttle) == UpstreamException(
        "ThrottlingException", "Rate exceeded", "INSUFFICIENT_MODEL_CAPACITY"
    )
    exc = Message({":message-type": "exception", ":exception-type": "InternalServerException"}, b"boom")
    assert parse_kiro_message(exc) == UpstreamException("InternalServerException", "boom", None)
    exc = Message({":message-type": "exception"}, b'["not an object"]')
    assert parse_kiro_message(exc) == UpstreamException("UnknownException", '["not an object"]', None)
    exc = Message(
        {":message-type": "exception", ":exception-type": "X"}, b'{"Message":"capital","reason":""}'
    )
    assert parse_kiro_message(exc) == UpstreamException("X", "capital", None)
    exc = Message({":message-type": "exception", ":exception-type": "X"}, b"")
    assert parse_kiro_message(exc) == UpstreamException("X", "X", None)
    err = Message({":message-type": "error", ":error-code": "InternalFailure"}, b"something broke")
    assert parse_kiro_message(err) == UpstreamException("InternalFailure", "something broke", None)
    err = Message({":message-type": "error", ":error-message": "from header"}, b"")
    assert parse_kiro_message(err) == UpstreamException("error", "from header", None)
    assert parse_kiro_message(Message({":message-type": "mystery"}, b"")) == Ignored("mystery")


def test_roundtrip_through_the_codec() -> None:
    [message] = decode_all(encode_event("assistantResponseEvent", '{"content":"é"}'.encode()))
    assert parse_kiro_message(message) == TextFragment("é")
    [message] = decode_all(encode_message({":event-type": "meteringEvent"}, b'{"usage":2.5}'))
    assert parse_kiro_message(message) == Metering(2.5, "credit")


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (event("assistantResponseEvent", b'{"content":'), "not valid JSON"),
        (event("assistantResponseEvent", b""), "not valid JSON"),
        (event("assistantResponseEvent", b'"text"'), "not a JSON object"),
        (event("assistantResponseEvent", b'{"content":5}'), "'content' is not a string"),
        (event("toolUseEvent", b'{"name":"x"}'), "without a toolUseId"),
        (event("toolUseEvent", b'{"toolUseId":"t","input":5}'), "'input' is neither"),
        (event("toolUseEvent", b'{"toolUseId":"t","stop":"yes"}'), "'stop' is not a boolean"),
        (event("toolUseEvent", b'{"toolUseId":"t","name":7}'), "'name' is not a string"),
        (event("contextUsageEvent", b'{"contextUsagePercentage":"12"}'), "is not a number"),
        (event("contextUsageEvent", b'{"contextUsagePercentage":true}'), "is not a number"),
        (event("meteringEvent", b"{}"), "'usage' is not a number"),
        (event("reasoningContentEvent", b'{"signature":1}'), "'signature' is not a string"),
    ],
)
def test_malformed_event_payloads_raise_decode_error(message: Message, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        parse_kiro_message(message)
