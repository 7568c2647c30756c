"""Property test: for ANY Anthropic history the Kiro body satisfies the upstream rules (§3.3 1-5).

`check_kiro_body` is this test's own checker of the rules the upstream (and the simulator)
enforce; it works on the wire JSON, not on our models, and is reused by the golden tests.
Hypothesis runs derandomized with no example database, so the suite is deterministic.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiroproto.anthropic.request import MessagesRequest
from kiroproto.convert import convert_anthropic_request
from kiroproto.kiro.request import KiroRequest
from kiroproto.models import ModelMap

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
_FORMATS = {"jpeg", "png", "gif", "webp"}


def check_kiro_body(body: dict[str, Any]) -> None:
    """Assert the §3.3 rules (plus §3.2 / §4.5 / §4.7 shape rules) on a serialised body."""
    assert set(body) <= {"conversationState", "profileArn"}
    state = body["conversationState"]
    assert state["chatTriggerType"] == "MANUAL"
    assert isinstance(state["conversationId"], str) and state["conversationId"]
    current = state["currentMessage"]["userInputMessage"]
    history = state.get("history", [])
    entries = [*history, {"userInputMessage": current}]

    # Rule 1 and 2: starts with user, alternates, history ends with assistant.
    for index, entry in enumerate(entries):
        assert len(entry) == 1
        expected = "userInputMessage" if index % 2 == 0 else "assistantResponseMessage"
        assert expected in entry, f"entry {index} breaks alternation: {list(entry)}"

    tools = current.get("userInputMessageContext", {}).get("tools", [])
    declared = {tool["toolSpecification"]["name"] for tool in tools}
    for tool in tools:
        spec = tool["toolSpecification"]
        assert _NAME.match(spec["name"]), spec["name"]
        assert spec["description"].strip() and len(spec["description"]) <= 10_000
        schema = spec["inputSchema"]["json"]
        assert schema["type"] == "object"
        assert isinstance(schema["properties"], dict)
        assert all(isinstance(r, str) and r in schema["properties"] for r in schema.get("required", []))
        assert "$schema" not in schema
    assert len(declared) == len(tools), "duplicate tool names"

    issued: set[str] = set()
    seen_use_ids: set[str] = set()
    for index, entry in enumerate(entries):
        if "assistantResponseMessage" in entry:
            message = entry["assistantResponseMessage"]
            assert isinstance(message["content"], str) and len(message["content"]) > 0  # §4.5
            uses = message.get("toolUses", [])
            ids = [use["toolUseId"] for use in uses]
            assert len(set(ids)) == len(ids)
            assert not (set(ids) & seen_use_ids), "tool use id reused"
            seen_use_ids.update(ids)
            for use in uses:
                assert isinstance(use["input"], dict)  # rule 5
                assert use["name"] in declared, f"undeclared tool {use['name']}"  # rule 4
                assert _NAME.match(use["name"])
            issued = set(ids)
            continue
        message = entry["userInputMessage"]
        assert message["content"].strip(), f"empty user content at {index}"
        assert message["origin"] == "AI_EDITOR"
        assert message["modelId"]
        for image in message.get("images", []):
            assert image["format"] in _FORMATS and image["source"]["bytes"]
        context = message.get("userInputMessageContext", {})
        if index < len(entries) - 1:
            assert "tools" not in context, "tools only on currentMessage"
        result_ids = [result["toolUseId"] for result in context.get("toolResults", [])]
        assert len(set(result_ids)) == len(result_ids), "duplicate tool results"
        # Rule 3: results answer exactly the previous assistant's tool uses.
        assert set(result_ids) == issued, f"pairing broken at {index}: {result_ids} vs {issued}"
        for result in context.get("toolResults", []):
            assert result["status"] in ("success", "error")
            assert result["content"] and all(set(c) <= {"text", "json"} for c in result["content"])
        issued = set()
    # The body round-trips through the strict model.
    KiroRequest.model_validate(orjson.loads(orjson.dumps(body)))


# --- the strategy ---------------------------------------------------------------------------

_IDS = st.sampled_from(["toolu_1", "toolu_2", "toolu_3", "toolu_4", "tooluse_AbC"])
_TOOL_NAMES = st.sampled_from(
    [
        "Read",
        "read",
        "Bash",
        "mcp__some_server_with_a_long_name__and_a_very_long_tool_name_indeed_yes",
        "weird.name/with spaces",
        "",
    ]
)
_TEXT = st.one_of(st.just(""), st.just("   \n"), st.text(min_size=1, max_size=12))
_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
_IMAGE = st.fixed_dictionaries(
    {
        "type": st.just("image"),
        "source": st.fixed_dictionaries(
            {
                "type": st.just("base64"),
                "media_type": st.sampled_from(["image/png", "image/jpeg", "image/webp"]),
                "data": st.just(_PNG),
            }
        ),
    }
)
_TEXT_BLOCK = st.builds(lambda t: {"type": "text", "text": t}, _TEXT)
_RESULT_CONTENT = st.one_of(
    st.none(),
    _TEXT,
    st.lists(st.one_of(_TEXT_BLOCK, _IMAGE, st.just({"type": "search_result", "x": 1})), max_size=3),
)
_BLOCK = st.one_of(
    _TEXT_BLOCK,
    _IMAGE,
    st.builds(
        lambda i, n, inp: {"type": "tool_use", "id": i, "name": n, "input": inp},
        _IDS,
        _TOOL_NAMES,
        st.dictionaries(
            st.text(max_size=3), st.one_of(st.none(), st.integers(), st.text(max_size=3)), max_size=2
        ),
    ),
    st.builds(
        lambda i, c, e: {"type": "tool_result", "tool_use_id": i, "content": c, "is_error": e},
        _IDS,
        _RESULT_CONTENT,
        st.one_of(st.none(), st.booleans()),
    ),
    st.builds(lambda t: {"type": "thinking", "thinking": t, "signature": "sig"}, _TEXT),
    st.just({"type": "redacted_thinking", "data": "xyz"}),
    st.just({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"q": "x"}}),
    st.just({"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}),
    st.just({"type": "brand_new_block", "payload": 1}),
    st.just({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}}),
)
_MESSAGE = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "user", "assistant", "assistant", "system"]),
        "content": st.one_of(_TEXT, st.lists(_BLOCK, max_size=5)),
    }
)
_TOOL = st.one_of(
    st.builds(
        lambda n, d: {"name": n, "description": d, "input_schema": {"type": "object", "properties": {}}},
        _TOOL_NAMES,
        st.one_of(st.none(), _TEXT),
    ),
    st.just({"type": "web_search_20250305", "name": "web_search", "max_uses": 5}),
)
_REQUEST = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["claude-sonnet-4-5", "claude-opus-4-6-thinking", "claude-haiku-4-5"]),
        "max_tokens": st.just(1024),
        "messages": st.lists(_MESSAGE, min_size=1, max_size=9),
    },
    optional={
        "system": st.one_of(_TEXT, st.lists(_TEXT_BLOCK, max_size=2)),
        "tools": st.lists(_TOOL, max_size=4),
        "thinking": st.sampled_from(
            [{"type": "enabled", "budget_tokens": 50_000}, {"type": "adaptive"}, {"type": "disabled"}]
        ),
    },
)


@st.composite
def _agent_conversation(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A well-formed agent loop (parallel tool calls, results), then damaged at random."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": draw(_TEXT)}]
    next_id = 0
    for _ in range(draw(st.integers(0, 4))):
        ids = [f"toolu_{next_id + k}" for k in range(draw(st.integers(0, 3)))]
        next_id += len(ids)
        assistant: list[dict[str, Any]] = [{"type": "text", "text": draw(_TEXT)}]
        assistant += [{"type": "tool_use", "id": i, "name": draw(_TOOL_NAMES), "input": {}} for i in ids]
        messages.append({"role": "assistant", "content": assistant})
        answered = draw(st.lists(st.sampled_from(ids), unique=True)) if ids else []
        results: list[dict[str, Any]] = [
            {"type": "tool_result", "tool_use_id": i, "content": draw(_RESULT_CONTENT)} for i in answered
        ]
        follow_up: bool = draw(st.booleans())
        if results or follow_up:
            messages.append({"role": "user", "content": results + [{"type": "text", "text": draw(_TEXT)}]})
    for _ in range(draw(st.integers(0, 3))):  # damage: what compaction and buggy clients do
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "system", "empty", "stray"]))
        at = draw(st.integers(0, len(messages) - 1))
        if op == "delete" and len(messages) > 1:
            del messages[at]
        elif op == "duplicate":
            messages.insert(at, messages[at])
        elif op == "swap" and at + 1 < len(messages):
            messages[at], messages[at + 1] = messages[at + 1], messages[at]
        elif op == "system":
            messages.insert(at, {"role": "system", "content": "be brief"})
        elif op == "empty":
            messages.insert(at, {"role": draw(st.sampled_from(["user", "assistant"])), "content": []})
        elif op == "stray":
            stray = {"type": "tool_result", "tool_use_id": draw(_IDS), "content": "late"}
            messages.insert(at, {"role": "user", "content": [stray]})
    return messages


_AGENT_REQUEST = st.fixed_dictionaries(
    {
        "model": st.just("claude-sonnet-4-5-20250929"),
        "max_tokens": st.just(1024),
        "messages": _agent_conversation(),
        "tools": st.lists(_TOOL, max_size=3),
    },
    optional={"system": _TEXT},
)


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.one_of(_REQUEST, _AGENT_REQUEST))
def test_any_history_gives_a_valid_kiro_body(raw: dict[str, Any]) -> None:
    req = MessagesRequest.model_validate(raw)
    conversion = convert_anthropic_request(req, ModelMap().resolve(req.model))
    check_kiro_body(conversion.body.to_wire())
    # Every name sent to Kiro maps back to a client name.
    wire = conversion.body.to_wire()
    tools = wire["conversationState"]["currentMessage"]["userInputMessage"]
    for tool in tools.get("userInputMessageContext", {}).get("tools", []):
        assert tool["toolSpecification"]["name"] in conversion.tool_name_map


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(_REQUEST)
def test_conversion_is_deterministic(raw: dict[str, Any]) -> None:
    req = MessagesRequest.model_validate(raw)
    model = ModelMap().resolve(req.model)
    first = convert_anthropic_request(req, model, uuid_factory=lambda: "u")
    second = convert_anthropic_request(req, model, uuid_factory=lambda: "u")
    assert first.body.to_json_bytes() == second.body.to_json_bytes()
    assert first.repairs == second.repairs


# --- the checker has teeth --------------------------------------------------------------------


def _valid_body() -> dict[str, Any]:
    def user_entry(content: str, **extra: Any) -> dict[str, Any]:
        return {"userInputMessage": {"content": content, "modelId": "m", "origin": "AI_EDITOR", **extra}}

    tool = {
        "toolSpecification": {
            "name": "X",
            "description": "d",
            "inputSchema": {"json": {"type": "object", "properties": {}}},
        }
    }
    result = {"toolUseId": "t1", "content": [{"text": "ok"}], "status": "success"}
    return {
        "conversationState": {
            "chatTriggerType": "MANUAL",
            "conversationId": "c",
            "currentMessage": user_entry(
                "q", userInputMessageContext={"tools": [tool], "toolResults": [result]}
            ),
            "history": [
                user_entry("go"),
                {
                    "assistantResponseMessage": {
                        "content": " ",
                        "toolUses": [{"toolUseId": "t1", "name": "X", "input": {}}],
                    }
                },
            ],
        }
    }


def _set(path: str, value: Any) -> Any:
    def breakage(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = body["conversationState"]
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return breakage


def _cur(path: str, value: Any) -> Any:
    return _set(f"currentMessage.userInputMessage.{path}", value)


def test_checker_accepts_the_valid_body() -> None:
    check_kiro_body(_valid_body())


@pytest.mark.parametrize(
    "breakage",
    [
        _set("history.0", {"assistantResponseMessage": {"content": "a"}}),  # starts with assistant
        _set("history.1", {"userInputMessage": {"content": "u", "modelId": "m", "origin": "AI_EDITOR"}}),
        _set("history.1.assistantResponseMessage.content", ""),  # empty assistant content
        _set("history.1.assistantResponseMessage.toolUses.0.input", "{}"),  # rule 5
        _set("history.1.assistantResponseMessage.toolUses.0.name", "Y"),  # rule 4
        _set("history.1.assistantResponseMessage.toolUses", []),  # result without a use
        _cur("userInputMessageContext.toolResults", []),  # use without a result
        _cur("content", "  "),
        _set("history.0.userInputMessage.userInputMessageContext", {"tools": []}),
        _cur("userInputMessageContext.tools.0.toolSpecification.description", ""),
        _cur("userInputMessageContext.tools.0.toolSpecification.name", "x" * 64),
        _set("chatTriggerType", "AUTO"),
    ],
)
def test_checker_rejects_broken_bodies(breakage: Any) -> None:
    body = _valid_body()
    breakage(body)
    with pytest.raises(AssertionError):
        check_kiro_body(body)
