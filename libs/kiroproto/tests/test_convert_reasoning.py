"""Reasoning as data (kiro-protocol.md §19.5): `apply_reasoning`, `request_fields`, `schema_allows`."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_convert_properties import _AGENT_REQUEST, _REQUEST, check_kiro_body

from kiroproto.anthropic.request import MessagesRequest
from kiroproto.convert import KiroConversion, convert_anthropic_request
from kiroproto.convert.reasoning import ReasoningPlan, apply_reasoning, request_fields, schema_allows
from kiroproto.convert.thinking import AdaptiveThinking, EnabledThinking
from kiroproto.models import ModelMap

EFFORT = {"type": "string", "enum": ["low", "medium", "high", "max"]}
MAX_TOKENS = {"type": "integer", "minimum": 1024, "maximum": 64000}


def closed(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    """A JSON-schema object that allows only `properties`."""
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    return schema | {"required": list(required)} if required else schema


NO_BUDGET = closed(
    {
        "thinking": closed({"type": {"type": "string", "enum": ["adaptive", "disabled"]}}, "type"),
        "output_config": closed({"effort": EFFORT}),
        "max_tokens": MAX_TOKENS,
    }
)
WITH_BUDGET = closed(
    {
        "thinking": closed(
            {
                "type": {"type": "string", "enum": ["enabled", "adaptive", "disabled"]},
                "budget_tokens": {"type": "integer", "minimum": 1024, "maximum": 32000},
            }
        )
    }
)
GPT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "object", "properties": {"effort": {"enum": ["low", "medium", "high"]}}}
    },
}

HISTORY: list[dict[str, Any]] = [
    {"role": "user", "content": "first"},
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "plan A", "signature": "sig-A"},
            {"type": "thinking", "thinking": "plan B", "signature": "sig-B"},
            {"type": "text", "text": "answer one"},
        ],
    },
    {"role": "user", "content": "second"},
    {
        "role": "assistant",
        "content": [{"type": "thinking", "thinking": "unsigned"}, {"type": "text", "text": "two"}],
    },
    {"role": "user", "content": "third"},
]


def convert(**raw: Any) -> KiroConversion:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 2048, "messages": HISTORY, **raw}
    counter = itertools.count(1)
    return convert_anthropic_request(
        MessagesRequest.model_validate(body),
        ModelMap().resolve(body["model"]),
        uuid_factory=lambda: f"uuid-{next(counter)}",
    )


def history(wire: dict[str, Any]) -> list[dict[str, Any]]:
    return list(wire["conversationState"]["history"])


def test_classic_body_is_unchanged_without_a_schema() -> None:
    conversion = convert(thinking={"type": "enabled", "budget_tokens": 4000}, system="Be brief.")
    wire = conversion.body.to_wire()
    assert apply_reasoning(wire, conversion.reasoning, None) == wire
    first = history(wire)[0]["userInputMessage"]["content"]
    assert first.startswith("<thinking_mode>enabled</thinking_mode>") and first.endswith("Be brief.")
    assert "<thinking>plan A</thinking>" in history(wire)[3]["assistantResponseMessage"]["content"]
    assert "additionalModelRequestFields" not in wire


def test_schema_path_moves_tags_to_fields_and_history_thinking_to_reasoning_content() -> None:
    conversion = convert(
        thinking={"type": "enabled", "budget_tokens": 4000},
        output_config={"effort": "high"},
        system="Be brief.",
    )
    wire = conversion.body.to_wire()
    before = copy.deepcopy(wire)
    body = apply_reasoning(wire, conversion.reasoning, NO_BUDGET)
    assert wire == before  # never mutated: one conversion serves every attempt
    assert body["additionalModelRequestFields"] == {
        "thinking": {"type": "adaptive"},  # enabled -> adaptive: this schema has no budget
        "output_config": {"effort": "high"},
        "max_tokens": 2048,
    }
    entries = history(body)
    assert entries[0]["userInputMessage"]["content"] == "Be brief."
    signed = entries[3]["assistantResponseMessage"]
    assert signed == {
        "content": "answer one",
        "reasoningContent": {"reasoningText": {"text": "plan A", "signature": "sig-A"}},  # one block
    }
    assert entries[5]["assistantResponseMessage"] == {"content": "two"}  # unsigned: no reasoningContent
    assert schema_allows(NO_BUDGET, body["additionalModelRequestFields"])


def test_the_system_pair_goes_when_it_held_only_the_tags() -> None:
    conversion = convert(thinking={"type": "adaptive"})
    wire = conversion.body.to_wire()
    assert history(wire)[0]["userInputMessage"]["content"].startswith("<thinking_mode>adaptive")
    body = apply_reasoning(wire, conversion.reasoning, NO_BUDGET)
    entries = history(body)
    assert entries[0]["userInputMessage"]["content"] == "first"
    assert entries[1]["assistantResponseMessage"]["reasoningContent"]["reasoningText"]["text"] == "plan A"
    assert len(entries) == len(history(wire)) - 2


def test_strip_history_leaves_out_every_reasoning_block() -> None:
    conversion = convert(thinking={"type": "adaptive"})
    wire = conversion.body.to_wire()
    for schema in (NO_BUDGET, None):
        body = apply_reasoning(wire, conversion.reasoning, schema, strip_history=True)
        messages = [e["assistantResponseMessage"] for e in history(body) if "assistantResponseMessage" in e]
        assert not any("reasoningContent" in m or "<thinking>" in m["content"] for m in messages)


def test_budget_kept_and_clamped_where_the_schema_has_one() -> None:
    plan = ReasoningPlan(thinking=EnabledThinking(100_000), max_tokens=10)
    assert request_fields(plan, WITH_BUDGET) == {"thinking": {"type": "enabled", "budget_tokens": 32000}}
    assert request_fields(ReasoningPlan(max_tokens=10), NO_BUDGET) == {"max_tokens": 1024}


@pytest.mark.parametrize(
    ("plan", "schema", "expected"),
    [
        (
            ReasoningPlan(thinking=AdaptiveThinking("high"), effort="high"),
            GPT,
            {"reasoning": {"effort": "high"}},
        ),
        (ReasoningPlan(effort="max"), GPT, {}),  # not in the enum: left out
        (ReasoningPlan(thinking=AdaptiveThinking("high")), {"type": "object"}, {}),  # no thinking property
        (ReasoningPlan(), NO_BUDGET, {}),
        (
            ReasoningPlan(thinking=AdaptiveThinking("low")),
            {"properties": {"thinking": {"properties": {"type": {"const": "adaptive"}}}}},
            {"thinking": {"type": "adaptive"}},
        ),
        (
            ReasoningPlan(thinking=AdaptiveThinking("low")),
            {"properties": {"thinking": {"properties": {"type": {"type": "string"}}}}},
            {},  # no enumerated types: nothing to be sure of
        ),
    ],
)
def test_request_fields_respect_the_schema(
    plan: ReasoningPlan, schema: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert request_fields(plan, schema) == expected


@pytest.mark.parametrize(
    ("schema", "value", "ok"),
    [
        ({"type": "integer"}, True, False),
        ({"type": "boolean"}, True, True),
        ({"type": "number", "minimum": 1}, 0.5, False),
        ({"type": "number", "maximum": 1}, 2, False),
        ({"const": "a"}, "b", False),
        ({"type": "object", "required": ["a"]}, {}, False),
        ({"type": "object", "additionalProperties": {"type": "string"}}, {"x": 1}, False),
        ({"type": "object", "additionalProperties": {"type": "string"}}, {"x": "y"}, True),
        ({"type": "array", "items": {"type": "string"}}, ["a", 1], False),
        ({"type": "array", "items": {"type": "string"}}, ["a"], True),
        ({"type": "string"}, 3, False),
        ("not a schema", 3, True),
    ],
)
def test_schema_allows(schema: Any, value: Any, ok: bool) -> None:
    assert schema_allows(schema, value) is ok


_thinking = st.one_of(
    st.none(),
    st.builds(EnabledThinking, st.integers(1, 200_000)),
    st.builds(AdaptiveThinking, st.sampled_from(["low", "medium", "high"])),
)
_plans = st.builds(
    ReasoningPlan,
    thinking=_thinking,
    effort=st.none() | st.sampled_from(["low", "medium", "high", "max", "bogus"]),
    max_tokens=st.none() | st.integers(1, 500_000),
)


@settings(max_examples=300, deadline=None)
@given(_plans, st.sampled_from([NO_BUDGET, WITH_BUDGET, GPT, {"type": "object"}]))
def test_request_fields_always_validate_against_their_schema(
    plan: ReasoningPlan, schema: dict[str, Any]
) -> None:
    fields = request_fields(plan, schema)
    assert schema_allows(schema, fields)
    if schema is NO_BUDGET and plan.thinking is not None:
        assert fields["thinking"] == {"type": "adaptive"}


@settings(max_examples=100, deadline=None)
@given(
    st.booleans(),
    st.sampled_from([None, {"type": "enabled", "budget_tokens": 2000}, {"type": "adaptive"}]),
    st.text(max_size=20),
)
def test_apply_reasoning_never_changes_the_input_and_keeps_alternation(
    strip: bool, thinking: dict[str, Any] | None, system: str
) -> None:
    raw: dict[str, Any] = {"system": system} if system.strip() else {}
    if thinking is not None:
        raw["thinking"] = thinking
    conversion = convert(**raw)
    wire = conversion.body.to_wire()
    before = copy.deepcopy(wire)
    for schema in (None, NO_BUDGET, WITH_BUDGET):
        body = apply_reasoning(wire, conversion.reasoning, schema, strip_history=strip)
        roles = [next(iter(e)) for e in history(body)]
        assert roles == ["userInputMessage", "assistantResponseMessage"] * (len(roles) // 2)
        if schema is not None:
            assert not any("<thinking_mode>" in str(e) for e in history(body))
    assert wire == before


@settings(max_examples=150, deadline=None)
@given(st.one_of(_REQUEST, _AGENT_REQUEST), st.booleans())
def test_any_request_shaped_for_any_account_is_a_valid_kiro_body(raw: dict[str, Any], strip: bool) -> None:
    req = MessagesRequest.model_validate(raw)
    conversion = convert_anthropic_request(req, ModelMap().resolve(req.model))
    wire = conversion.body.to_wire()
    before = copy.deepcopy(wire)
    for schema in (None, NO_BUDGET, WITH_BUDGET):
        body = apply_reasoning(wire, conversion.reasoning, schema, strip_history=strip)
        fields = body.pop("additionalModelRequestFields", {})
        assert schema is not None or not fields
        assert schema_allows(schema, fields)
        check_kiro_body(body)
        for entry in history(body):
            message = entry.get("assistantResponseMessage", {})
            if schema is None or strip:
                assert "reasoningContent" not in message
            if strip:
                assert "<thinking>" not in message.get("content", "") or "<thinking>" in str(raw)
    assert wire == before


def test_thinking_display_goes_along_where_the_schema_has_it() -> None:
    schema = copy.deepcopy(NO_BUDGET)
    schema["properties"]["thinking"]["properties"]["display"] = {
        "type": "string",
        "enum": ["summarized", "omitted"],
    }
    conversion = convert(thinking={"type": "adaptive", "display": "omitted"})
    assert conversion.reasoning.display == "omitted"
    assert request_fields(conversion.reasoning, schema)["thinking"] == {
        "type": "adaptive",
        "display": "omitted",
    }
    assert request_fields(conversion.reasoning, NO_BUDGET)["thinking"] == {"type": "adaptive"}
    odd = ReasoningPlan(thinking=AdaptiveThinking("high"), display="loud")
    assert request_fields(odd, schema)["thinking"] == {"type": "adaptive"}
