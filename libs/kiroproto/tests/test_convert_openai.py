"""OpenAI Chat Completions -> Anthropic Messages (§4.12), and through to a valid Kiro body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_convert_properties import check_kiro_body

from kiroproto.anthropic import request as anthropic
from kiroproto.anthropic.request import (
    ImageBlock,
    TextBlock,
    ThinkingAdaptive,
    ThinkingDisabled,
    ToolResultBlock,
    ToolUseBlock,
)
from kiroproto.convert import convert_anthropic_request, convert_openai_request
from kiroproto.convert.openai_to_anthropic import DEFAULT_MAX_TOKENS, JSON_OBJECT_INSTRUCTION
from kiroproto.errors import ConversionError
from kiroproto.models import ModelMap
from kiroproto.openai.request import ChatCompletionRequest


def to_anthropic(**raw: Any) -> Any:
    raw.setdefault("model", "gpt-4o")
    raw.setdefault("messages", [{"role": "user", "content": "hi"}])
    return convert_openai_request(ChatCompletionRequest.model_validate(raw))


def test_agent_loop_round_trip_to_kiro() -> None:
    req = to_anthropic(
        model="claude-sonnet-4-5",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "21C"}]},
            {"role": "user", "content": [{"type": "text", "text": "Thanks"}]},
        ],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
        stop="END",
        max_tokens=100,
        user="user-42",
        stream=True,
        temperature=0.2,
    )
    assert req.system == "Be brief.\n\nUse tools."
    assert [m.role for m in req.messages] == ["user", "assistant", "user", "user"]
    uses = req.messages[1].content
    assert uses == [
        ToolUseBlock(type="tool_use", id="call_1", name="get_weather", input={"city": "Paris"}),
        ToolUseBlock(type="tool_use", id="call_2", name="get_weather", input={}),
    ]
    assert req.messages[2].content == [
        ToolResultBlock(type="tool_result", tool_use_id="call_1", content="18C"),
        ToolResultBlock(type="tool_result", tool_use_id="call_2", content="21C"),
    ]
    assert req.stop_sequences == ["END"]
    assert req.max_tokens == 100
    assert req.metadata is not None and req.metadata.user_id == "user-42"
    assert req.stream is True and req.temperature == 0.2
    assert req.tools is not None and req.tools[0].name == "get_weather"
    assert req.tool_choice is None

    conversion = convert_anthropic_request(req, ModelMap().resolve(req.model))
    body = conversion.body.to_wire()
    check_kiro_body(body)
    current = body["conversationState"]["currentMessage"]["userInputMessage"]
    assert current["content"] == "Thanks"
    assert [r["toolUseId"] for r in current["userInputMessageContext"]["toolResults"]] == ["call_1", "call_2"]


def test_defaults() -> None:
    req = to_anthropic()
    assert req.model == "gpt-4o"
    assert req.system is None and req.stop_sequences is None and req.metadata is None
    assert req.max_tokens == DEFAULT_MAX_TOKENS and req.stream is False
    assert req.thinking is None and req.output_config is None and req.tools is None


def test_max_completion_tokens_wins_and_stop_list() -> None:
    req = to_anthropic(max_tokens=10, max_completion_tokens=20, stop=["a", "b"])
    assert req.max_tokens == 20 and req.stop_sequences == ["a", "b"]
    assert to_anthropic(stop=[]).stop_sequences is None


def test_data_url_images_become_base64_blocks() -> None:
    req = to_anthropic(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                    },
                ],
            }
        ]
    )
    blocks = req.messages[0].content
    assert isinstance(blocks[0], TextBlock)
    assert isinstance(blocks[1], ImageBlock)
    assert blocks[1].source.model_dump() == {
        "type": "base64",
        "media_type": "image/png",
        "data": "iVBORw0KGgo=",
    }


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"type": "image_url", "image_url": {"url": "https://x/y.png"}}, "image URLs are not supported"),
        ({"type": "image_url", "image_url": {"url": "data:image/png,rawdata"}}, "base64-encoded"),
        ({"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}, "'input_audio'"),
        ({"type": "file", "file": {"file_id": "f"}}, "'file'"),
        ({"type": "refusal", "refusal": "no"}, "'refusal'"),
    ],
)
def test_unsupported_user_parts_are_a_400(part: dict[str, Any], message: str) -> None:
    with pytest.raises(ConversionError, match=message) as info:
        to_anthropic(messages=[{"role": "user", "content": [part]}])
    assert info.value.status_hint == 400


def test_non_text_parts_in_system_or_tool_messages_are_a_400() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
    with pytest.raises(ConversionError, match="system messages"):
        to_anthropic(messages=[{"role": "system", "content": [image]}, {"role": "user", "content": "x"}])
    with pytest.raises(ConversionError, match="tool messages"):
        to_anthropic(messages=[{"role": "tool", "tool_call_id": "c", "content": [image]}])


@pytest.mark.parametrize(("arguments", "message"), [("{not json", "not valid JSON"), ("[1]", "JSON object")])
def test_bad_tool_call_arguments_are_a_400(arguments: str, message: str) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    with pytest.raises(ConversionError, match=message):
        to_anthropic(messages=[{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call]}])


def test_assistant_text_and_refusal_parts() -> None:
    req = to_anthropic(
        messages=[
            {"role": "user", "content": "x"},
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "b"}],
            },
            {"role": "assistant", "content": ""},
        ]
    )
    assert req.messages[1].content == [TextBlock(type="text", text="a\nb")]
    assert req.messages[2].content == []


def test_legacy_functions_and_function_role() -> None:
    req = to_anthropic(
        messages=[
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": '{"a": 1}'}},
            {"role": "function", "name": "f", "content": "result"},
        ],
        functions=[{"name": "f", "parameters": {"type": "object"}}],
    )
    assert req.messages[1].content == [
        ToolUseBlock(type="tool_use", id="call_legacy_1", name="f", input={"a": 1})
    ]
    assert req.messages[2].content == [
        ToolResultBlock(type="tool_result", tool_use_id="call_legacy_1", content="result")
    ]
    assert req.tools is not None and req.tools[0].input_schema == {"type": "object"}
    body = convert_anthropic_request(req, ModelMap().resolve("claude-sonnet-4-5")).body.to_wire()
    check_kiro_body(body)
    assert (
        "toolResults"
        in body["conversationState"]["currentMessage"]["userInputMessage"]["userInputMessageContext"]
    )


def test_tools_without_parameters_and_non_function_tools() -> None:
    req = to_anthropic(tools=[{"type": "function", "function": {"name": "ping"}}])
    assert req.tools is not None
    assert req.tools[0].input_schema == {"type": "object", "properties": {}}
    with pytest.raises(ConversionError, match="tool type 'custom'"):
        to_anthropic(tools=[{"type": "custom", "custom": {"name": "x"}}])


@pytest.mark.parametrize(
    ("tool_choice", "parallel", "expected"),
    [
        (None, None, None),
        (None, False, anthropic.ToolChoiceAuto(type="auto", disable_parallel_tool_use=True)),
        ("auto", None, anthropic.ToolChoiceAuto(type="auto")),
        ("none", False, anthropic.ToolChoiceNone(type="none")),
        ("required", False, anthropic.ToolChoiceAny(type="any", disable_parallel_tool_use=True)),
        (
            {"type": "function", "function": {"name": "f"}},
            None,
            anthropic.ToolChoiceTool(type="tool", name="f"),
        ),
    ],
)
def test_tool_choice(tool_choice: Any, parallel: bool | None, expected: Any) -> None:
    assert to_anthropic(tool_choice=tool_choice, parallel_tool_calls=parallel).tool_choice == expected


def test_response_format_adds_a_json_instruction() -> None:
    assert to_anthropic(response_format={"type": "text"}).system is None
    req = to_anthropic(
        messages=[{"role": "system", "content": "Sys."}, {"role": "user", "content": "x"}],
        response_format={"type": "json_object"},
    )
    assert req.system == f"Sys.\n\n{JSON_OBJECT_INSTRUCTION}"
    schema = {"type": "object", "properties": {"b": {"type": "integer"}, "a": {"type": "string"}}}
    req = to_anthropic(
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "point", "description": "A point", "schema": schema, "strict": True},
        }
    )
    assert isinstance(req.system, str)
    assert "The JSON is a 'point': A point" in req.system
    assert req.system.endswith(json.dumps(schema, sort_keys=True))
    bare = to_anthropic(response_format={"type": "json_schema", "json_schema": {"name": "n"}}).system
    assert bare is not None and "The JSON is a 'n'." in bare and "JSON Schema" not in bare


@pytest.mark.parametrize(
    ("effort", "thinking", "kiro_effort"),
    [
        ("none", ThinkingDisabled(type="disabled"), None),
        ("minimal", ThinkingAdaptive(type="adaptive"), "low"),
        ("low", ThinkingAdaptive(type="adaptive"), "low"),
        ("medium", ThinkingAdaptive(type="adaptive"), "medium"),
        ("high", ThinkingAdaptive(type="adaptive"), "high"),
        ("xhigh", ThinkingAdaptive(type="adaptive"), "max"),
    ],
)
def test_reasoning_effort(effort: str, thinking: Any, kiro_effort: str | None) -> None:
    req = to_anthropic(reasoning_effort=effort)
    assert req.thinking == thinking
    assert (req.output_config.effort if req.output_config else None) == kiro_effort


def test_unknown_reasoning_effort_is_a_400() -> None:
    with pytest.raises(ConversionError, match="reasoning_effort 'extreme'"):
        to_anthropic(reasoning_effort="extreme")


@pytest.mark.parametrize("n", [0, 2])
def test_n_other_than_one_is_a_400(n: int) -> None:
    with pytest.raises(ConversionError, match="n=1"):
        to_anthropic(n=n)
    assert to_anthropic(n=1).messages


def test_only_system_messages_is_a_400() -> None:
    with pytest.raises(ConversionError, match="at least one user or assistant"):
        to_anthropic(messages=[{"role": "system", "content": "x"}])


def test_tool_message_without_preceding_call_is_repaired_downstream() -> None:
    req = to_anthropic(messages=[{"role": "tool", "tool_call_id": "ghost", "content": "x"}])
    conversion = convert_anthropic_request(req, ModelMap().resolve("claude-sonnet-4-5"))
    check_kiro_body(conversion.body.to_wire())
    assert "dropped_unknown_tool_result" in conversion.repairs
