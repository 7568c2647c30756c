"""ResponseAssembler: the Kiro-events → output-events state machine (kiro-protocol.md §6, §7)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiroproto.stream import (
    BlockDelta,
    BlockStart,
    BlockStop,
    ContextUsage,
    Ignored,
    KiroEvent,
    MessageEnd,
    Metering,
    OutputEvent,
    ReasoningFragment,
    ResponseAssembler,
    StopReason,
    StreamFailure,
    StreamOptions,
    TextFragment,
    ToolUseFragment,
    UpstreamException,
    Usage,
    input_tokens,
    output_tokens,
)


def options(**overrides: Any) -> StreamOptions:
    values: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "message_id": "msg_1",
        "input_tokens_estimate": 42,
    }
    values.update(overrides)
    return StreamOptions(**values)


TRAILER = Metering(0.0, "credit")


def assemble(events: Sequence[KiroEvent], *, trailer: bool = True, **overrides: Any) -> list[OutputEvent]:
    """Feed `events` (plus a zero meteringEvent, the trailer of a complete answer) and finish."""
    assembler = ResponseAssembler(options(**overrides))
    out: list[OutputEvent] = []
    for event in [*events, TRAILER] if trailer else events:
        out += assembler.feed(event)
    out += assembler.finish()
    assert assembler.done
    return out


def tool(
    tool_id: str, name: str = "get_weather", input: str | None = None, stop: bool = False
) -> ToolUseFragment:
    return ToolUseFragment(tool_id, name, input, stop)


def end(
    reason: StopReason,
    emitted: str,
    *,
    seq: str | None = None,
    inp: int = 42,
    credits: float | None = 0.0,
    truncated: bool = False,
) -> MessageEnd:
    usage = Usage(inp, output_tokens(emitted), credits)
    return MessageEnd(reason, seq, usage, truncated)


# --- text ---------------------------------------------------------------------------------------


def test_text_block_opens_lazily_and_duplicates_are_kept() -> None:
    events: list[KiroEvent] = [
        TextFragment(""),
        Ignored("messageMetadataEvent"),
        TextFragment("ab"),
        TextFragment("ab"),
    ]
    assert assemble(events) == [
        BlockStart(0, "text"),
        BlockDelta(0, "text", "ab"),
        BlockDelta(0, "text", "ab"),
        BlockStop(0),
        end("end_turn", "abab"),
    ]


def test_empty_response_ends_with_end_turn_and_one_output_token() -> None:
    assert assemble([]) == [MessageEnd("end_turn", None, Usage(42, 1, 0.0))]


def test_thinking_off_passes_tags_through_as_text() -> None:
    out = assemble([TextFragment("<thinking>\nx</thinking>\n\ny")])
    assert out[1] == BlockDelta(0, "text", "<thinking>\nx</thinking>\n\ny")


def test_usage_from_context_percentage_and_summed_metering() -> None:
    events: list[KiroEvent] = [
        TextFragment("hi"),
        Metering(0.5, "credit"),
        ContextUsage(12.5),
        Metering(0.25, "credit"),
    ]
    assert assemble(events, context_window=1_000_000)[-1] == end("end_turn", "hi", inp=125_000, credits=0.75)


def test_usage_helpers() -> None:
    assert input_tokens(None, 200_000, 7) == 7
    assert input_tokens(1.9482500553131104, 200_000, 7) == 3896
    assert input_tokens(0.0, 200_000, 7) == 0
    assert output_tokens("") == 1


# --- thinking -----------------------------------------------------------------------------------


def test_inline_thinking_then_text() -> None:
    events: list[KiroEvent] = [TextFragment("<thinking>\nplan</thinking>\n\nanswer")]
    assert assemble(events, thinking=True) == [
        BlockStart(0, "thinking"),
        BlockDelta(0, "thinking", "plan"),
        BlockStop(0),
        BlockStart(1, "text"),
        BlockDelta(1, "text", "answer"),
        BlockStop(1),
        end("end_turn", "plananswer"),
    ]


def test_thinking_only_gets_a_space_text_block_and_max_tokens() -> None:
    assert assemble([TextFragment("<thinking>\nstill thinking")], thinking=True) == [
        BlockStart(0, "thinking"),
        BlockDelta(0, "thinking", "still thinking"),
        BlockStop(0),
        BlockStart(1, "text"),
        BlockDelta(1, "text", " "),
        BlockStop(1),
        end("max_tokens", "still thinking "),
    ]


def test_reasoning_events_become_thinking_with_signature_before_stop() -> None:
    events: list[KiroEvent] = [
        ReasoningFragment("step 1", None),
        ReasoningFragment(" step 2", "sig-abc"),
        ReasoningFragment("", None),
        TextFragment("done"),
    ]
    assert assemble(events, thinking=True) == [
        BlockStart(0, "thinking"),
        BlockDelta(0, "thinking", "step 1"),
        BlockDelta(0, "thinking", " step 2"),
        BlockDelta(0, "signature", "sig-abc"),
        BlockStop(0),
        BlockStart(1, "text"),
        BlockDelta(1, "text", "done"),
        BlockStop(1),
        end("end_turn", "step 1 step 2done"),
    ]


def test_reasoning_is_dropped_when_the_client_did_not_ask_for_thinking() -> None:
    out = assemble([ReasoningFragment("hidden", "sig"), TextFragment("x")])
    assert out[:3] == [BlockStart(0, "text"), BlockDelta(0, "text", "x"), BlockStop(0)]


def test_signature_without_thinking_text_is_dropped() -> None:
    assert assemble([ReasoningFragment("", "sig"), TextFragment("x")], thinking=True)[:3] == [
        BlockStart(0, "text"),
        BlockDelta(0, "text", "x"),
        BlockStop(0),
    ]


# --- tool calls ---------------------------------------------------------------------------------


def test_tool_name_restored_opens_merged_and_fragments_verbatim() -> None:
    events: list[KiroEvent] = [
        TextFragment("Checking."),
        tool("t1", "mcp_srv_tool_1a2b3c4d"),
        tool("t1", "mcp_srv_tool_1a2b3c4d"),  # a repeated open frame (§6.5)
        tool("t1", "mcp_srv_tool_1a2b3c4d", ""),
        tool("t1", "mcp_srv_tool_1a2b3c4d", '{"q": '),
        tool("t1", "mcp_srv_tool_1a2b3c4d", '"x"}'),
        tool("t1", "mcp_srv_tool_1a2b3c4d", stop=True),
        tool("t2", "other", stop=True),  # no input at all → {}
        ContextUsage(1.0),
    ]
    out = assemble(events, tool_name_map={"mcp_srv_tool_1a2b3c4d": "mcp.srv/tool"})
    assert out == [
        BlockStart(0, "text"),
        BlockDelta(0, "text", "Checking."),
        BlockStop(0),
        BlockStart(1, "tool_use", "t1", "mcp.srv/tool"),
        BlockDelta(1, "input_json", '{"q": '),
        BlockDelta(1, "input_json", '"x"}'),
        BlockStop(1),
        BlockStart(2, "tool_use", "t2", "other"),
        BlockDelta(2, "input_json", "{}"),
        BlockStop(2),
        end("tool_use", 'Checking.{"q": "x"}{}', inp=2000),
    ]


def test_fragments_for_a_closed_tool_are_dropped_and_text_may_follow() -> None:
    events: list[KiroEvent] = [
        tool("t1", input="{}", stop=True),
        tool("t1", input="garbage"),
        TextFragment("after"),
    ]
    assert assemble(events) == [
        BlockStart(0, "tool_use", "t1", "get_weather"),
        BlockDelta(0, "input_json", "{}"),
        BlockStop(0),
        BlockStart(1, "text"),
        BlockDelta(1, "text", "after"),
        BlockStop(1),
        end("tool_use", "{}after"),
    ]


def test_a_tool_call_is_emitted_only_at_its_stop_and_text_meanwhile_comes_first() -> None:
    assembler = ResponseAssembler(options())
    assert assembler.feed(tool("t1", input='{"a":')) == []
    assert assembler.feed(tool("t1", input="1}")) == []
    assert not assembler.has_content
    out = assembler.feed(TextFragment("meanwhile"))
    out += assembler.feed(tool("t1", stop=True))
    assert out == [
        BlockStart(0, "text"),
        BlockDelta(0, "text", "meanwhile"),
        BlockStop(0),
        BlockStart(1, "tool_use", "t1", "get_weather"),
        BlockDelta(1, "input_json", '{"a":'),
        BlockDelta(1, "input_json", "1}"),
        BlockStop(1),
    ]


def test_a_tool_call_without_its_stop_is_dropped_and_the_answer_is_cut() -> None:
    events: list[KiroEvent] = [TextFragment("Let me look."), tool("t1", input='{"a":1}')]
    assert assemble(events) == [
        BlockStart(0, "text"),
        BlockDelta(0, "text", "Let me look."),
        BlockStop(0),
        end("max_tokens", "Let me look.", truncated=True),
    ]


@pytest.mark.parametrize("arguments", ['{"content": "half a fi', "[1, 2]", '"a string"'])
def test_truncated_tool_json_is_a_stream_failure(arguments: str) -> None:
    assembler = ResponseAssembler(options())
    assert assembler.feed(tool("t1", input=arguments)) == []
    [failure] = assembler.feed(tool("t1", stop=True))
    assert isinstance(failure, StreamFailure)
    assert (failure.error_type, failure.status_hint) == ("api_error", 500)
    assert "t1" in failure.message and "not valid JSON" in failure.message
    assert assembler.done
    assert assembler.feed(TextFragment("more")) == []
    assert assembler.finish() == []


def test_an_unfinished_tool_call_alone_is_a_failure_to_fail_over() -> None:
    out = assemble([tool("t1", input='{"a":')])
    assert out == [StreamFailure("api_error", "the upstream answer ended without content", 502)]


def test_content_length_exceeded_drops_a_cut_tool_call() -> None:
    events: list[KiroEvent] = [
        tool("t1", input='{"content": "hal'),
        UpstreamException("ContentLengthExceededException", "", None),
    ]
    assert assemble(events) == [end("max_tokens", "", credits=None)]


# --- upstream exceptions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exception_type", "error_type", "status"),
    [
        ("ThrottlingException", "overloaded_error", 529),
        ("throttlingException", "overloaded_error", 529),
        ("InternalServerException", "api_error", 500),
        ("invalidStateEvent", "api_error", 500),
    ],
)
def test_exception_after_content(exception_type: str, error_type: str, status: int) -> None:
    assembler = ResponseAssembler(options())
    assembler.feed(TextFragment("Partial"))
    assert assembler.has_content
    assert assembler.feed(UpstreamException(exception_type, "boom", None)) == [
        StreamFailure(error_type, "boom", status)
    ]
    assert assembler.done
    assert assembler.finish() == []


def test_exception_before_content_leaves_has_content_false() -> None:
    assembler = ResponseAssembler(options(thinking=True))
    assert assembler.feed(TextFragment("<thin")) == []  # held, nothing sent yet
    assert not assembler.has_content
    assert assembler.feed(UpstreamException("ThrottlingException", "Rate exceeded", None)) == [
        StreamFailure("overloaded_error", "Rate exceeded", 529)
    ]
    assert not assembler.has_content


@pytest.mark.parametrize(
    "exception_type", ["ContentLengthExceededException", "contentLengthExceededException"]
)
def test_content_length_exceeded_ends_normally_with_max_tokens(exception_type: str) -> None:
    assembler = ResponseAssembler(options(thinking=True, stop_sequences=("<think",)))
    out = assembler.feed(TextFragment("<thinking>\nabc</thinking>\n\nA long answer <thi"))
    out += assembler.feed(UpstreamException(exception_type, "Content length exceeded", None))
    assert assembler.done
    assert out[-4:] == [
        BlockDelta(1, "text", "A long answer "),
        BlockDelta(1, "text", "<thi"),  # nothing held back is lost
        BlockStop(1),
        end("max_tokens", "abcA long answer <thi", credits=None),
    ]
    assert assembler.feed(ContextUsage(50.0)) == []


# --- stop sequences -----------------------------------------------------------------------------


def test_stop_sequence_cuts_text_and_ignores_the_rest() -> None:
    assembler = ResponseAssembler(options(stop_sequences=("STOP",)))
    out = assembler.feed(TextFragment("one two ST"))
    assert out == [BlockStart(0, "text"), BlockDelta(0, "text", "one two ")]
    out = assembler.feed(TextFragment("OP three"))
    assert out == [BlockStop(0), end("stop_sequence", "one two ", seq="STOP", credits=None)]
    assert assembler.done
    assert assembler.feed(tool("t1", stop=True)) == []
    assert assembler.finish() == []


def test_stop_sequence_held_text_flushes_before_a_tool_and_at_the_end() -> None:
    out = assemble(
        [TextFragment("a S"), tool("t1", input="{}", stop=True), TextFragment("b S")],
        stop_sequences=("STOP",),
    )
    assert out == [
        BlockStart(0, "text"),
        BlockDelta(0, "text", "a "),
        BlockDelta(0, "text", "S"),
        BlockStop(0),
        BlockStart(1, "tool_use", "t1", "get_weather"),
        BlockDelta(1, "input_json", "{}"),
        BlockStop(1),
        BlockStart(2, "text"),
        BlockDelta(2, "text", "b "),
        BlockDelta(2, "text", "S"),
        BlockStop(2),
        end("tool_use", "a S{}b S"),
    ]


def test_stop_sequence_held_text_flushes_before_a_thinking_block() -> None:
    out = assemble(
        [TextFragment("x S"), ReasoningFragment("r", None)], stop_sequences=("STOP",), thinking=True
    )
    assert out[:5] == [
        BlockStart(0, "text"),
        BlockDelta(0, "text", "x "),
        BlockDelta(0, "text", "S"),
        BlockStop(0),
        BlockStart(1, "thinking"),
    ]


def test_stop_sequences_do_not_apply_to_thinking() -> None:
    out = assemble(
        [TextFragment("<thinking>\nSTOP here</thinking>\n\nok STOP no")],
        thinking=True,
        stop_sequences=("STOP",),
    )
    assert out == [
        BlockStart(0, "thinking"),
        BlockDelta(0, "thinking", "STOP here"),
        BlockStop(0),
        BlockStart(1, "text"),
        BlockDelta(1, "text", "ok "),
        BlockStop(1),
        end("stop_sequence", "STOP hereok ", seq="STOP", credits=None),
    ]


def test_stop_sequence_in_text_flushed_by_the_thinking_extractor() -> None:
    # "<th" is held by the extractor (a possible tag) and only released at a boundary or the end.
    out = assemble([TextFragment("<th")], thinking=True, stop_sequences=("th",))
    assert out == [
        BlockStart(0, "text"),
        BlockDelta(0, "text", "<"),
        BlockStop(0),
        end("stop_sequence", "<", seq="th"),
    ]
    out = assemble([TextFragment("<th"), tool("t1", stop=True)], thinking=True, stop_sequences=("th",))
    assert out == [
        BlockStart(0, "text"),
        BlockDelta(0, "text", "<"),
        BlockStop(0),
        end("stop_sequence", "<", seq="th", credits=None),
    ]


def test_stop_sequence_right_after_thinking_leaves_no_text_block() -> None:
    out = assemble([TextFragment("<thinking>\nhm</thinking>\n\nEND")], thinking=True, stop_sequences=("END",))
    assert out == [
        BlockStart(0, "thinking"),
        BlockDelta(0, "thinking", "hm"),
        BlockStop(0),
        end("stop_sequence", "hm", seq="END", credits=None),
    ]


def merged_text(out: list[OutputEvent]) -> tuple[str, list[OutputEvent]]:
    text = "".join(e.data for e in out if isinstance(e, BlockDelta) and e.kind == "text")
    rest = [e for e in out if not (isinstance(e, BlockDelta) and e.kind == "text")]
    return text, rest


@settings(deadline=None)
@given(
    st.text(alphabet="ab<>/\nSTOPthinkg`", max_size=60),
    st.data(),
    st.booleans(),
)
def test_random_splits_give_the_same_response(text: str, data: st.DataObject, thinking: bool) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    fragments = [TextFragment(text[a:b]) for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    stops = ("STOP", "\n\n")
    whole = assemble([TextFragment(text)], stop_sequences=stops, thinking=thinking)
    split = assemble(fragments, stop_sequences=stops, thinking=thinking)
    assert merged_text(split) == merged_text(whole)
    thinking_text = "".join(e.data for e in split if isinstance(e, BlockDelta) and e.kind == "thinking")
    assert thinking_text == "".join(
        e.data for e in whole if isinstance(e, BlockDelta) and e.kind == "thinking"
    )
