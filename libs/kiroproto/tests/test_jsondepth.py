"""The nesting bound (kiroproto.jsondepth) and that everything under it converts and encodes."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from kiroproto.anthropic.request import MessagesRequest
from kiroproto.convert.anthropic_to_kiro import convert_anthropic_request
from kiroproto.jsondepth import MAX_JSON_DEPTH, json_depth_exceeds
from kiroproto.models import ModelMap, ModelMapConfig
from kiroproto.tokens import count_request_tokens


def nested(levels: int) -> Any:
    value: Any = "leaf"
    for i in range(levels):
        value = {"k": value} if i % 2 else [value]
    return value


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


json_values = st.recursive(
    st.none() | st.integers() | st.text(max_size=3),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=2), kids, max_size=3),
    max_leaves=30,
)


@given(json_values, st.integers(min_value=0, max_value=12))
def test_matches_the_recursive_definition(value: Any, limit: int) -> None:
    assert json_depth_exceeds(value, limit) == (depth(value) > limit)


def test_deep_values_do_not_recurse() -> None:
    assert json_depth_exceeds(nested(100_000))
    assert not json_depth_exceeds(nested(MAX_JSON_DEPTH))
    assert json_depth_exceeds(nested(MAX_JSON_DEPTH + 1))


def test_a_request_at_the_bound_converts_counts_and_encodes() -> None:
    """The bound is what the pipeline handles: a whole request body MAX_JSON_DEPTH deep, with
    the depth in a tool schema and in a tool_use input, converts to Kiro's JSON."""
    inner = MAX_JSON_DEPTH - 6  # body → messages → [i] → content → [j] → input → x
    schema: Any = {"type": "string"}
    while depth(schema) + 2 <= MAX_JSON_DEPTH - 3:  # body → tools → [i] → input_schema
        schema = {"type": "object", "properties": {"a": schema}}
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 8,
        "tools": [{"name": "f", "description": "d", "input_schema": schema}],
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"x": nested(inner)}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
        ],
    }
    assert not json_depth_exceeds(body) and json_depth_exceeds(body, MAX_JSON_DEPTH - 1)
    req = MessagesRequest.model_validate(orjson.loads(orjson.dumps(body)))
    count_request_tokens(req)
    model = ModelMap(ModelMapConfig()).resolve(req.model)
    encoded = convert_anthropic_request(req, model).body.to_json_bytes()
    assert json_depth_exceeds(orjson.loads(encoded), MAX_JSON_DEPTH)  # Kiro's envelope is deeper
