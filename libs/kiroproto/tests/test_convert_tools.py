"""Tool specs: name shortening / sanitising, descriptions, JSON-schema normalisation (§4.7)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from kiroproto.anthropic.request import CustomTool, ServerTool, Tool
from kiroproto.convert.tools import (
    MAX_DESCRIPTION,
    PLACEHOLDER_DESCRIPTION,
    ToolNames,
    build_tool_specs,
    kiro_tool_name,
    normalize_schema,
)


def _hash(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]


@pytest.mark.parametrize("name", ["Read", "a", "mcp__x__y", "tool-1_B", "x" * 63])
def test_valid_names_are_kept(name: str) -> None:
    assert kiro_tool_name(name) == name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("x" * 64, "x" * 54 + "_" + _hash("x" * 64)),
        ("a.b", "a_b_" + _hash("a.b")),
        ("név", "n_v_" + _hash("név")),
        ("", "_" + _hash("")),
        ("ü" * 80, "_" * 54 + "_" + _hash("ü" * 80)),
    ],
)
def test_invalid_names_are_rewritten_deterministically(name: str, expected: str) -> None:
    assert kiro_tool_name(name) == expected
    assert len(expected) <= 63
    assert kiro_tool_name(name) == kiro_tool_name(name)


def test_tool_names_remember_the_first_original() -> None:
    names = ToolNames()
    assert names.to_kiro("a.b") == names.to_kiro("a.b")
    names.to_kiro("Read")
    assert names.restore_map() == {"a_b_" + _hash("a.b"): "a.b", "Read": "Read"}


def _tool(name: str, description: str | None = "d", schema: dict[str, Any] | None = None) -> CustomTool:
    return CustomTool(name=name, description=description, input_schema=schema or {})


def test_descriptions() -> None:
    tools = [_tool("a", None), _tool("b", "   "), _tool("c", "x" * (MAX_DESCRIPTION + 5)), _tool("", "")]
    specs, _, _ = build_tool_specs(tools, [], ToolNames())
    descriptions = [s.tool_specification.description for s in specs]
    assert descriptions == ["a", "b", "x" * MAX_DESCRIPTION, "tool"]


def test_placeholders_and_server_tools() -> None:
    names = ToolNames()
    tools: list[Tool] = [_tool("Read"), ServerTool(type="web_search_20250305", name="web_search")]
    specs, removed, added = build_tool_specs(tools, ["read", "Grep", "Grep"], names)
    assert [s.tool_specification.name for s in specs] == ["Read", "read", "Grep"]  # exact names
    assert specs[2].tool_specification.description == PLACEHOLDER_DESCRIPTION
    assert (removed, added) == (True, True)
    assert build_tool_specs([], [], ToolNames()) == ((), False, False)


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (None, {"type": "object", "properties": {}, "required": [], "additionalProperties": True}),
        ({}, {"type": "object", "properties": {}, "required": [], "additionalProperties": True}),
        (
            {
                "$schema": "x",
                "type": "OBJECT",
                "properties": [],
                "required": "a",
                "additionalProperties": False,
            },
            {"type": "object", "properties": {}, "required": [], "additionalProperties": False},
        ),
        (
            {
                "type": ["object", "null"],
                "properties": {"a": {"type": "String"}},
                "required": ["a", "b", 3, "a"],
            },
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "required": ["a"],
                "additionalProperties": True,
            },
        ),
    ],
)
def test_top_level_schema(schema: dict[str, Any] | None, expected: dict[str, Any]) -> None:
    assert normalize_schema(schema) == expected


def test_nested_schema_is_normalised_recursively_and_data_untouched() -> None:
    schema = {
        "type": "object",
        "properties": {
            # A property literally named "type", and one named "properties".
            "type": {"type": "STRING", "enum": ["A", "B"], "default": None},
            "properties": "INTEGER",
            "items": {
                "type": "ARRAY",
                "items": {
                    "type": "Object",
                    "$schema": "x",
                    "properties": {"n": {"type": ["Number", "NULL"], "description": "Type: NUMBER"}},
                    "required": ["n", "missing"],
                },
            },
            "tuple": {"type": "array", "items": [{"type": "STRING"}, True], "prefixItems": "bad"},
            "choice": {"anyOf": [{"type": "Boolean"}, 7], "not": {"type": "NULL"}},
            "free": {"type": "object", "additionalProperties": {"type": "STRING"}, "properties": None},
            "open": True,
            "odd": {"type": 5},
        },
        "$defs": {"Thing": {"type": "OBJECT", "required": "x"}},
        "definitions": "bad",
        "examples": [{"type": "KEEP"}],
    }
    assert normalize_schema(schema) == {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["A", "B"], "default": None},
            "properties": {"type": "integer"},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"n": {"type": ["number", "null"], "description": "Type: NUMBER"}},
                    "required": ["n"],
                },
            },
            "tuple": {"type": "array", "items": [{"type": "string"}, True], "prefixItems": []},
            "choice": {"anyOf": [{"type": "boolean"}, {}], "not": {"type": "null"}},
            "free": {"type": "object", "additionalProperties": {"type": "string"}, "properties": {}},
            "open": True,
            "odd": {"type": 5},
        },
        "$defs": {"Thing": {"type": "object"}},
        "definitions": {},
        "examples": [{"type": "KEEP"}],
        "required": [],
        "additionalProperties": True,
    }


def test_normalisation_does_not_mutate_the_input() -> None:
    schema: dict[str, Any] = {
        "type": "OBJECT",
        "properties": {"a": {"type": "STRING"}},
        "required": ["a", "b"],
    }
    normalize_schema(schema)
    assert schema == {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}, "required": ["a", "b"]}
