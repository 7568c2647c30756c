"""Anthropic -> Kiro conversion: golden bodies for Claude-Code-like histories, then one test per
rule (every upstream-reject case of §3.3 / §4.5 / §4.7 is repaired, and the repair is reported).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

import pytest
from test_convert_properties import check_kiro_body

from kiroproto.anthropic.request import MessagesRequest
from kiroproto.convert import KiroConversion, convert_anthropic_request
from kiroproto.errors import ConversionError
from kiroproto.models import ModelMap

PNG = "iVBORw0KGgo="
LONG = "mcp__some_server_with_a_long_name__and_a_very_long_tool_name_indeed_yes"
LONG_SHORT = "mcp__some_server_with_a_long_name__and_a_very_long_too_cecd9f32"
SONNET = "claude-sonnet-4.5"
ACK = {"assistantResponseMessage": {"content": "I will follow these instructions."}}
PLACEHOLDER_SCHEMA = {"type": "object", "properties": {}, "required": [], "additionalProperties": True}


def convert(raw: dict[str, Any], model: str = "claude-sonnet-4-5-20250929", **kwargs: Any) -> KiroConversion:
    raw = {"model": model, "max_tokens": 1024, **raw}
    counter = itertools.count(1)
    conversion = convert_anthropic_request(
        MessagesRequest.model_validate(raw),
        ModelMap().resolve(model),
        uuid_factory=lambda: f"uuid-{next(counter)}",
        **kwargs,
    )
    check_kiro_body(conversion.body.to_wire())
    return conversion


def wire(conversion: KiroConversion) -> dict[str, Any]:
    state: dict[str, Any] = conversion.body.to_wire()["conversationState"]
    return state


def current(conversion: KiroConversion) -> dict[str, Any]:
    message: dict[str, Any] = wire(conversion)["currentMessage"]["userInputMessage"]
    return message


def history(conversion: KiroConversion) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = wire(conversion)["history"]
    return entries


def user(content: str, **extra: Any) -> dict[str, Any]:
    return {"userInputMessage": {"content": content, "modelId": SONNET, "origin": "AI_EDITOR", **extra}}


def assistant(content: str, uses: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"content": content}
    if uses is not None:
        message["toolUses"] = uses
    return {"assistantResponseMessage": message}


def text_result(tool_use_id: str, text: str, status: str = "success") -> dict[str, Any]:
    return {"toolUseId": tool_use_id, "content": [{"text": text}], "status": status}


def tool_spec(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"toolSpecification": {"name": name, "description": description, "inputSchema": {"json": schema}}}


# --- golden bodies --------------------------------------------------------------------------


def test_golden_single_turn_with_system_and_profile() -> None:
    conversion = convert(
        {
            "system": "You are helpful.",
            "metadata": {
                "user_id": json.dumps(
                    {"device_id": "d", "session_id": "7F1C2A9E-3B4D-4E5F-8A6B-1C2D3E4F5A6B"}
                )
            },
            "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        },
        profile_arn="arn:aws:codewhisperer:us-east-1:123456789012:profile/EXAMPLE",
    )
    assert conversion.body.to_wire() == {
        "conversationState": {
            "agentContinuationId": "uuid-1",
            "agentTaskType": "vibe",
            "chatTriggerType": "MANUAL",
            "conversationId": "7f1c2a9e-3b4d-4e5f-8a6b-1c2d3e4f5a6b",
            "currentMessage": {
                "userInputMessage": {
                    "content": "What is the weather in Paris?",
                    "modelId": SONNET,
                    "origin": "AI_EDITOR",
                }
            },
            "history": [user("You are helpful."), ACK],
        },
        "profileArn": "arn:aws:codewhisperer:us-east-1:123456789012:profile/EXAMPLE",
    }
    assert conversion.conversation_id == "7f1c2a9e-3b4d-4e5f-8a6b-1c2d3e4f5a6b"
    assert conversion.repairs == ()
    assert conversion.thinking is False
    assert json.loads(conversion.body.to_json_bytes()) == conversion.body.to_wire()


def test_golden_claude_code_parallel_tools_with_image_result() -> None:
    conversion = convert(
        {
            "stream": True,
            "system": [
                {"type": "text", "text": "x-anthropic-billing-header: cc"},
                {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
            ],
            "metadata": {"user_id": "user_1a2b_account_c3d4_session_0D9E8F7A-6B5C-4D3E-9F1A-2B3C4D5E6F70"},
            "thinking": {"type": "enabled", "budget_tokens": 31999},
            "context_management": {"edits": []},
            "tools": [
                {
                    "name": "Read",
                    "description": "Read a file",
                    "input_schema": {
                        "$schema": "http://json-schema.org/draft-07/schema#",
                        "type": "object",
                        "properties": {"file_path": {"type": "string"}},
                        "required": ["file_path"],
                        "additionalProperties": False,
                    },
                },
                {
                    "name": LONG,
                    "description": "An MCP tool",
                    "input_schema": {"type": "object", "properties": {}},
                    "defer_loading": True,
                },
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 8},
            ],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                        {"type": "text", "text": "Look at a.png and query the server"},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "I should read both.", "signature": "sig"},
                        {"type": "text", "text": "Reading both."},
                        {
                            "type": "tool_use",
                            "id": "toolu_01",
                            "name": "Read",
                            "input": {"file_path": "/a.png"},
                        },
                        {"type": "tool_use", "id": "toolu_02", "name": LONG, "input": {}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_01",
                            "content": [
                                {"type": "text", "text": "Image read"},
                                {
                                    "type": "image",
                                    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                                },
                            ],
                        },
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_02",
                            "content": "server unavailable",
                            "is_error": True,
                        },
                    ],
                },
                {"role": "assistant", "content": [{"type": "text", "text": "The image shows a cat."}]},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "Thanks", "cache_control": {"type": "ephemeral"}}],
                },
            ],
            "stop_sequences": ["\n\nHuman:"],
        }
    )
    assert wire(conversion) == {
        "agentContinuationId": "uuid-1",
        "agentTaskType": "vibe",
        "chatTriggerType": "MANUAL",
        "conversationId": "0d9e8f7a-6b5c-4d3e-9f1a-2b3c4d5e6f70",
        "currentMessage": {
            "userInputMessage": {
                "content": "Thanks",
                "modelId": SONNET,
                "origin": "AI_EDITOR",
                "userInputMessageContext": {
                    "tools": [
                        tool_spec(
                            "Read",
                            "Read a file",
                            {
                                "type": "object",
                                "properties": {"file_path": {"type": "string"}},
                                "required": ["file_path"],
                                "additionalProperties": False,
                            },
                        ),
                        tool_spec(LONG_SHORT, "An MCP tool", PLACEHOLDER_SCHEMA),
                    ]
                },
            }
        },
        "history": [
            user(
                "<thinking_mode>enabled</thinking_mode><max_thinking_length>24576</max_thinking_length>\n"
                "x-anthropic-billing-header: cc\nYou are Claude Code."
            ),
            ACK,
            user("<system-reminder>ctx</system-reminder>\nLook at a.png and query the server"),
            assistant(
                "<thinking>I should read both.</thinking>\n\nReading both.",
                [
                    {"toolUseId": "toolu_01", "name": "Read", "input": {"file_path": "/a.png"}},
                    {"toolUseId": "toolu_02", "name": LONG_SHORT, "input": {}},
                ],
            ),
            user(
                "Tool results provided.",
                images=[{"format": "png", "source": {"bytes": PNG}}],
                userInputMessageContext={
                    "toolResults": [
                        text_result("toolu_01", "Image read"),
                        text_result("toolu_02", "server unavailable", "error"),
                    ]
                },
            ),
            assistant("The image shows a cat."),
        ],
    }
    assert dict(conversion.tool_name_map) == {"Read": "Read", LONG_SHORT: LONG}
    assert conversion.thinking is True
    assert conversion.stop_sequences == ("\n\nHuman:",)
    assert conversion.repairs == ("removed_server_tool", "shortened_tool_name")


def test_golden_compaction_leftovers_with_orphans() -> None:
    conversion = convert(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_gone", "content": "old output"},
                        {"type": "text", "text": "This session is being continued. Summary: ..."},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_10", "name": "Bash", "input": {}}],
                },
                {"role": "user", "content": "What did you find?"},
                {"role": "user", "content": [{"type": "text", "text": "Also check the tests."}]},
            ]
        }
    )
    assert wire(conversion) == {
        "agentContinuationId": "uuid-2",
        "agentTaskType": "vibe",
        "chatTriggerType": "MANUAL",
        "conversationId": "uuid-1",
        "currentMessage": {
            "userInputMessage": {
                "content": "What did you find?\nAlso check the tests.",
                "modelId": SONNET,
                "origin": "AI_EDITOR",
            }
        },
        "history": [user("This session is being continued. Summary: ..."), assistant("(no content)")],
    }
    assert conversion.repairs == (
        "merged_user_turns",
        "dropped_unknown_tool_result",
        "removed_orphan_tool_use",
    )
    assert dict(conversion.tool_name_map) == {"Bash": "Bash"}


def test_golden_empty_tools_list_with_tool_history() -> None:
    conversion = convert(
        {
            "tools": [],
            "messages": [
                {"role": "user", "content": "list files"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}
                    ],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"}],
                },
            ],
        }
    )
    assert history(conversion) == [
        user("list files"),
        assistant(" ", [{"toolUseId": "toolu_1", "name": "Bash", "input": {"command": "ls"}}]),
    ]
    assert current(conversion) == {
        "content": "Tool results provided.",
        "modelId": SONNET,
        "origin": "AI_EDITOR",
        "userInputMessageContext": {
            "tools": [tool_spec("Bash", "Tool used in conversation history", PLACEHOLDER_SCHEMA)],
            "toolResults": [text_result("toolu_1", "a.txt")],
        },
    }
    assert conversion.repairs == ("added_placeholder_tool",)


def test_golden_system_messages_inside_messages_and_forced_adaptive_thinking() -> None:
    conversion = convert(
        {
            "system": "Top.",
            "messages": [
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "hi"},
                {"role": "system", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "assistant", "content": "salut"},
                {"role": "user", "content": "ça va?"},
            ],
        },
        model="claude-opus-4-6-thinking",
    )
    opus = "claude-opus-4.6"
    assert history(conversion) == [
        {
            "userInputMessage": {
                "content": "<thinking_mode>adaptive</thinking_mode><thinking_effort>high</thinking_effort>\n"
                "Top.\nBe terse.\nAnswer in French.",
                "modelId": opus,
                "origin": "AI_EDITOR",
            }
        },
        ACK,
        {"userInputMessage": {"content": "hi", "modelId": opus, "origin": "AI_EDITOR"}},
        assistant("salut"),
    ]
    assert current(conversion) == {"content": "ça va?", "modelId": opus, "origin": "AI_EDITOR"}
    assert conversion.repairs == ("folded_system_message",)
    assert conversion.thinking is True


# --- rule 1 and 2: alternation ----------------------------------------------------------------


def test_conversation_starting_with_assistant_gets_a_leading_user() -> None:
    conversion = convert(
        {"messages": [{"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "yo"}]}
    )
    assert history(conversion) == [user("Hello."), assistant("Hi!")]
    assert conversion.repairs == ("inserted_leading_user",)


def test_consecutive_turns_are_merged() -> None:
    conversion = convert(
        {
            "messages": [
                {"role": "user", "content": "a"},
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/gif", "data": PNG},
                        }
                    ],
                },
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "X", "input": {}}],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "b"},
                        {"type": "tool_use", "id": "t2", "name": "X", "input": {}},
                    ],
                },
                {"role": "assistant", "content": "c"},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "content": "1"},
                        {"type": "tool_result", "tool_use_id": "t2", "content": "2"},
                    ],
                },
            ]
        }
    )
    assert history(conversion) == [
        user("a", images=[{"format": "gif", "source": {"bytes": PNG}}]),
        assistant(
            "b\n\nc",
            [{"toolUseId": "t1", "name": "X", "input": {}}, {"toolUseId": "t2", "name": "X", "input": {}}],
        ),
    ]
    assert conversion.repairs == ("merged_user_turns", "merged_assistant_turns", "added_placeholder_tool")


def test_trailing_assistant_prefill_is_kept_and_continue_sent() -> None:
    conversion = convert(
        {"messages": [{"role": "user", "content": "Write JSON"}, {"role": "assistant", "content": "{"}]}
    )
    assert history(conversion) == [user("Write JSON"), assistant("{")]
    assert current(conversion)["content"] == "Continue"
    assert conversion.repairs == ("prefill_continue",)


@pytest.mark.parametrize("content", ["", "   ", []])
def test_empty_messages_are_dropped(content: Any) -> None:
    conversion = convert(
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": content},
                {"role": "user", "content": "b"},
            ]
        }
    )
    assert history(conversion) == []
    assert current(conversion)["content"] == "a\nb"
    assert conversion.repairs == ("dropped_empty_message", "merged_user_turns")


def test_an_entirely_empty_conversation_sends_continue() -> None:
    conversion = convert({"system": "Greet the user.", "messages": [{"role": "user", "content": ""}]})
    assert history(conversion) == [user("Greet the user."), ACK]
    assert current(conversion)["content"] == "Continue"
    assert conversion.repairs == ("dropped_empty_message", "empty_conversation")


def test_no_system_and_no_thinking_means_no_system_pair() -> None:
    conversion = convert({"system": [], "messages": [{"role": "user", "content": "hi"}]})
    assert wire(conversion)["history"] == []


# --- rule 3: tool pairing -------------------------------------------------------------------


def _tool_turns(results: list[dict[str, Any]], uses: tuple[str, ...] = ("t1", "t2")) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": i, "name": "X", "input": {}} for i in uses],
            },
            {"role": "user", "content": results},
        ],
        "tools": [{"name": "X", "description": "x", "input_schema": {}}],
    }


def _result(tool_use_id: str, content: Any = "ok", **extra: Any) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": content, **extra}


def test_unknown_tool_result_is_dropped() -> None:
    conversion = convert(_tool_turns([_result("t1"), _result("t2"), _result("nope")]))
    assert [r["toolUseId"] for r in current(conversion)["userInputMessageContext"]["toolResults"]] == [
        "t1",
        "t2",
    ]
    assert conversion.repairs == ("dropped_unknown_tool_result",)


def test_duplicate_tool_result_is_dropped() -> None:
    conversion = convert(_tool_turns([_result("t1"), _result("t1", "again"), _result("t2")]))
    results = current(conversion)["userInputMessageContext"]["toolResults"]
    assert results == [text_result("t1", "ok"), text_result("t2", "ok")]
    assert conversion.repairs == ("dropped_duplicate_tool_result",)


def test_orphan_tool_use_is_removed() -> None:
    conversion = convert(_tool_turns([_result("t2")]))
    assert history(conversion)[1] == assistant(" ", [{"toolUseId": "t2", "name": "X", "input": {}}])
    assert conversion.repairs == ("removed_orphan_tool_use",)


def test_all_tool_uses_orphaned_leaves_no_tool_uses_and_no_results() -> None:
    conversion = convert(_tool_turns([{"type": "text", "text": "never mind"}]))
    assert history(conversion)[1] == assistant("(no content)")
    assert "userInputMessageContext" in current(conversion)  # tools are still declared
    assert "toolResults" not in current(conversion)["userInputMessageContext"]


def test_tool_result_not_in_the_next_user_turn_is_dropped() -> None:
    conversion = convert(
        {
            "messages": [
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "X", "input": {}}],
                },
                {"role": "user", "content": "wait"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [_result("t1")]},
            ]
        }
    )
    assert history(conversion)[1] == assistant("(no content)")
    assert current(conversion) == {"content": "Continue", "modelId": SONNET, "origin": "AI_EDITOR"}
    assert conversion.repairs == ("removed_orphan_tool_use", "dropped_unknown_tool_result")


def test_reused_tool_use_id_is_dropped() -> None:
    conversion = convert(
        {
            "messages": [
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "X", "input": {}}],
                },
                {"role": "user", "content": [_result("t1")]},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "X", "input": {}}],
                },
                {"role": "user", "content": [_result("t1")]},
            ]
        }
    )
    assert history(conversion)[3] == assistant("(no content)")
    assert "userInputMessageContext" in current(conversion)
    assert "toolResults" not in current(conversion)["userInputMessageContext"]
    assert conversion.repairs[0] == "dropped_duplicate_tool_use"


def test_tool_result_in_the_first_user_turn_is_dropped() -> None:
    conversion = convert({"messages": [{"role": "user", "content": [_result("t1")]}]})
    assert current(conversion) == {"content": "Continue", "modelId": SONNET, "origin": "AI_EDITOR"}
    assert conversion.repairs == ("dropped_unknown_tool_result",)


# --- rule 4: declared tools -----------------------------------------------------------------


def test_history_tool_declared_with_other_case_gets_its_own_placeholder() -> None:
    # Regression: a case-insensitive match left `x` undeclared; the simulator answers
    # TOOL_CONFIG_MISSING (found by test_contract_simulator).
    raw = _tool_turns([_result("t1"), _result("t2")])
    raw["messages"][1]["content"][0]["name"] = "x"
    conversion = convert(raw)
    names = [t["toolSpecification"]["name"] for t in current(conversion)["userInputMessageContext"]["tools"]]
    assert names == ["X", "x"]
    assert "added_placeholder_tool" in conversion.repairs


def test_server_tools_are_removed_and_custom_type_kept() -> None:
    tools = [
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250429", "name": "str_replace_based_edit_tool"},
        {"type": "code_execution_20250522", "name": "code_execution"},
        {"type": "custom", "name": "mine", "description": "", "input_schema": {"type": "object"}},
    ]
    conversion = convert({"tools": tools, "messages": [{"role": "user", "content": "hi"}]})
    specs = current(conversion)["userInputMessageContext"]["tools"]
    assert specs == [tool_spec("mine", "mine", PLACEHOLDER_SCHEMA)]
    assert conversion.repairs == ("removed_server_tool",)


def test_only_server_tools_leaves_no_context() -> None:
    conversion = convert(
        {
            "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            "messages": [{"role": "user", "content": "q"}],
        }
    )
    assert "userInputMessageContext" not in current(conversion)


def test_duplicate_tool_declarations_keep_the_first() -> None:
    tools = [
        {"name": "X", "description": "first", "input_schema": {}},
        {"name": "X", "description": "second", "input_schema": {}},
    ]
    conversion = convert({"tools": tools, "messages": [{"role": "user", "content": "hi"}]})
    assert [
        t["toolSpecification"]["description"] for t in current(conversion)["userInputMessageContext"]["tools"]
    ] == ["first"]


def test_tool_names_are_shortened_and_restored_everywhere() -> None:
    odd = "server.tool/with spaces"
    odd_short = f"server_tool_with_spaces_{hashlib.sha256(odd.encode()).hexdigest()[:8]}"
    long_short = f"{LONG[:54]}_{hashlib.sha256(LONG.encode()).hexdigest()[:8]}"
    assert long_short == LONG_SHORT and len(LONG_SHORT) == 63
    raw = _tool_turns([_result("t1"), _result("t2")])
    raw["messages"][1]["content"] = [
        {"type": "tool_use", "id": "t1", "name": odd, "input": {}},
        {"type": "tool_use", "id": "t2", "name": LONG, "input": {}},
    ]
    raw["tools"] = [{"name": LONG, "description": "d", "input_schema": {}}]
    conversion = convert(raw)
    assert [u["name"] for u in history(conversion)[1]["assistantResponseMessage"]["toolUses"]] == [
        odd_short,
        LONG_SHORT,
    ]
    assert [
        t["toolSpecification"]["name"] for t in current(conversion)["userInputMessageContext"]["tools"]
    ] == [
        LONG_SHORT,
        odd_short,
    ]
    assert dict(conversion.tool_name_map) == {odd_short: odd, LONG_SHORT: LONG}
    assert conversion.repairs == ("added_placeholder_tool", "shortened_tool_name")


# --- rule 5 and empty content ---------------------------------------------------------------


def test_tool_use_input_must_be_an_object() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="input"):
        MessagesRequest.model_validate(
            {
                "model": "m",
                "max_tokens": 1,
                "messages": [
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "a", "name": "b", "input": "{}"}],
                    }
                ],
            }
        )


def test_user_turn_with_only_images_gets_a_placeholder() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG}}
    conversion = convert({"messages": [{"role": "user", "content": [image]}]})
    assert current(conversion) == {
        "content": "See the attached image(s).",
        "modelId": SONNET,
        "origin": "AI_EDITOR",
        "images": [{"format": "jpeg", "source": {"bytes": PNG}}],
    }


def test_history_user_turn_emptied_by_pairing_gets_continue() -> None:
    conversion = convert(
        {
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": "done"},
                {"role": "user", "content": [_result("zzz")]},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "next"},
            ]
        }
    )
    assert history(conversion)[2] == user("Continue")


# --- tool results, images, documents ----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "text", "images"),
    [
        (None, "(no output)", 0),
        ("", "(no output)", 0),
        ([], "(no output)", 0),
        ([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "a\nb", 0),
        (
            [{"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": PNG}}],
            "(see attached image)",
            1,
        ),
        ([{"type": "text", "text": "x"}, {"type": "search_result", "source": "s"}], "x", 0),
    ],
)
def test_tool_result_content(content: Any, text: str, images: int) -> None:
    conversion = convert(_tool_turns([_result("t1", content, is_error=False)], uses=("t1",)))
    message = current(conversion)
    assert message["userInputMessageContext"]["toolResults"] == [text_result("t1", text)]
    assert len(message.get("images", [])) == images


def test_image_media_types() -> None:
    def image(media_type: str, data: str = PNG) -> dict[str, Any]:
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}

    conversion = convert(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [image("image/jpg"), image("IMAGE/PNG", f"data:image/png;base64,{PNG}")],
                }
            ]
        }
    )
    assert current(conversion)["images"] == [
        {"format": "jpeg", "source": {"bytes": PNG}},
        {"format": "png", "source": {"bytes": PNG}},
    ]
    with pytest.raises(ConversionError, match="image/bmp") as info:
        convert({"messages": [{"role": "user", "content": [image("image/bmp")]}]})
    assert info.value.status_hint == 400 and info.value.error_type == "invalid_request_error"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"type": "url", "url": "https://example.com/a.png"}, "URL image sources"),
        ({"type": "file", "file_id": "file_1"}, "Files API"),
        ({"type": "s3", "bucket": "b"}, "source type 's3'"),
    ],
)
def test_unsupported_image_sources_are_a_400(source: dict[str, Any], message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        convert({"messages": [{"role": "user", "content": [{"type": "image", "source": source}]}]})


def test_url_image_inside_a_tool_result_is_a_400() -> None:
    bad = [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]
    with pytest.raises(ConversionError, match="URL image"):
        convert(_tool_turns([_result("t1", bad)], uses=("t1",)))


def test_plain_text_documents_become_text() -> None:
    b64 = "aGVsbG8gZG9j"  # "hello doc"
    blocks = [
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "body"},
            "title": "T",
            "context": "C",
        },
        {"type": "document", "source": {"type": "base64", "media_type": "text/plain", "data": b64}},
        {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "part"}]}},
        {"type": "document", "source": {"type": "content", "content": "whole"}},
    ]
    conversion = convert({"messages": [{"role": "user", "content": blocks}]})
    assert current(conversion)["content"] == "Document: T\nContext: C\nbody\nhello doc\npart\nwhole"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}, "application/pdf"),
        ({"type": "base64", "media_type": "text/plain", "data": "not base64!"}, "not valid base64"),
        ({"type": "base64", "media_type": "text/plain", "data": "//79"}, "not valid base64"),
        ({"type": "url", "url": "https://x/doc.pdf"}, "source type 'url'"),
        ({"type": "file", "file_id": "f"}, "source type 'file'"),
        ({"type": "carrier_pigeon"}, "source type 'carrier_pigeon'"),
    ],
)
def test_unsupported_documents_are_a_400(source: dict[str, Any], message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        convert({"messages": [{"role": "user", "content": [{"type": "document", "source": source}]}]})


def test_unsupported_blocks_are_dropped() -> None:
    conversion = convert(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "q"},
                        {"type": "tool_use", "id": "x", "name": "y", "input": {}},
                        {"type": "thinking", "thinking": "t"},
                        {"type": "container_upload", "file_id": "f"},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "redacted_thinking", "data": "abc"},
                        {"type": "thinking", "thinking": "  "},
                        {"type": "image", "source": {"type": "url", "url": "https://x"}},
                        {"type": "text", "text": "answer"},
                    ],
                },
                {"role": "user", "content": "more"},
            ]
        }
    )
    assert history(conversion) == [user("q"), assistant("answer")]
    assert conversion.repairs == ("dropped_unsupported_block",)


# --- thinking ------------------------------------------------------------------------------


def _system_user_text(conversion: KiroConversion) -> str:
    text: str = history(conversion)[0]["userInputMessage"]["content"]
    return text


@pytest.mark.parametrize(
    ("thinking", "effort", "model", "prefix"),
    [
        (
            {"type": "enabled", "budget_tokens": 100},
            None,
            "claude-sonnet-4-5",
            "enabled<max_thinking_length>1024<",
        ),
        (
            {"type": "enabled", "budget_tokens": 8000},
            None,
            "claude-sonnet-4-5",
            "enabled<max_thinking_length>8000<",
        ),
        ({"type": "adaptive"}, "low", "claude-opus-4-6", "adaptive<thinking_effort>low<"),
        ({"type": "adaptive"}, "medium", "claude-opus-4-6", "adaptive<thinking_effort>medium<"),
        ({"type": "adaptive"}, "max", "claude-opus-4-6", "adaptive<thinking_effort>high<"),
        ({"type": "adaptive"}, None, "claude-opus-4-6", "adaptive<thinking_effort>high<"),
        (None, None, "claude-sonnet-4-5-20250929-thinking", "enabled<max_thinking_length>20000<"),
        ({"type": "disabled"}, None, "claude-haiku-4-5-thinking", "enabled<max_thinking_length>20000<"),
        (None, "low", "claude-opus-4-6-thinking", "adaptive<thinking_effort>low<"),
    ],
)
def test_thinking_prefix(thinking: Any, effort: str | None, model: str, prefix: str) -> None:
    raw: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}]}
    if thinking is not None:
        raw["thinking"] = thinking
    if effort is not None:
        raw["output_config"] = {"effort": effort}
    conversion = convert(raw, model=model)
    text = _system_user_text(conversion)
    assert text.startswith("<thinking_mode>")
    assert text.replace("</thinking_mode>", "").removeprefix("<thinking_mode>").startswith(prefix)
    assert "\n" not in text  # no system text: the pair carries the prefix alone
    assert conversion.thinking is True


def test_thinking_disabled_or_absent_adds_nothing() -> None:
    for raw in ({}, {"thinking": {"type": "disabled"}}):
        conversion = convert({**raw, "messages": [{"role": "user", "content": "hi"}]})
        assert wire(conversion)["history"] == []
        assert conversion.thinking is False


def test_thinking_prefix_not_added_twice() -> None:
    system = "<thinking_mode>enabled</thinking_mode> be careful"
    conversion = convert(
        {
            "system": system,
            "thinking": {"type": "enabled", "budget_tokens": 2000},
            "messages": [{"role": "user", "content": "hi"}],
        }
    )
    assert _system_user_text(conversion) == system
    assert conversion.thinking is True


# --- identifiers and pass-through -----------------------------------------------------------


@pytest.mark.parametrize(
    ("user_id", "expected"),
    [
        (
            "user_x_account_y_session_0d9e8f7a-6b5c-4d3e-9f1a-2b3c4d5e6f70",
            "0d9e8f7a-6b5c-4d3e-9f1a-2b3c4d5e6f70",
        ),
        ('{"session_id": "0d9e8f7a-6b5c-4d3e-9f1a-2b3c4d5e6f70"}', "0d9e8f7a-6b5c-4d3e-9f1a-2b3c4d5e6f70"),
        ('{"session_id": "not-a-uuid"}', "uuid-1"),
        ('{"session_id": 5}', "uuid-1"),
        ("[1, 2]", "uuid-1"),
        ("plain user", "uuid-1"),
        ("", "uuid-1"),
    ],
)
def test_conversation_id_from_metadata(user_id: str, expected: str) -> None:
    conversion = convert({"metadata": {"user_id": user_id}, "messages": [{"role": "user", "content": "hi"}]})
    assert conversion.conversation_id == expected == wire(conversion)["conversationId"]


def test_explicit_conversation_id_wins() -> None:
    conversion = convert(
        {
            "metadata": {"user_id": "session_0d9e8f7a-6b5c-4d3e-9f1a-2b3c4d5e6f70"},
            "messages": [{"role": "user", "content": "x"}],
        },
        conversation_id="given",
    )
    assert conversion.conversation_id == "given"
    assert wire(conversion)["agentContinuationId"] == "uuid-1"


def test_default_uuid_factory_gives_uuids() -> None:
    req = MessagesRequest.model_validate(
        {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}
    )
    conversion = convert_anthropic_request(req, ModelMap().resolve("claude-haiku-4-5"))
    state = conversion.body.to_wire()["conversationState"]
    assert len(state["conversationId"]) == 36 and len(state["agentContinuationId"]) == 36
    assert state["conversationId"] != state["agentContinuationId"]
    assert "profileArn" not in conversion.body.to_wire()


def test_tool_name_map_is_read_only() -> None:
    conversion = convert({"messages": [{"role": "user", "content": "x"}]})
    with pytest.raises(TypeError):
        conversion.tool_name_map["a"] = "b"  # type: ignore[index]
