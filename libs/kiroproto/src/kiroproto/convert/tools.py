"""Tool specifications for Kiro (kiro-protocol.md §4.7): names, descriptions, schemas, placeholders.

- Tool names must match `[A-Za-z0-9_-]{1,63}` (63 is the safe limit, §18 item 3). Any other
  name is rewritten deterministically: invalid characters become `_`, the result is cut to
  54 characters and `_` + the first 8 hex digits of SHA-256(original name) is appended. The
  same rewrite is applied to tool names in history, and `ToolNames.restore_map()` maps every
  name sent to Kiro back to the client's name.
- Descriptions are cut to 10 000 characters; an empty description becomes the tool name
  (upstream answers 400 "Invalid tool use format." for empty ones).
- JSON schemas are normalised (`normalize_schema`).
- Anthropic server tools (`web_search_*`, `bash_*`, `text_editor_*`, `code_execution_*`,
  `computer_*`, ...) are removed: Kiro cannot run them, and the client does not execute them
  either. (Routing a lone `web_search` to Kiro's MCP endpoint, §14, is the gateway's business.)
- Names used by tool uses in history but not declared get a placeholder spec (§3.3 rule 4);
  the comparison is case-insensitive, as in kiro.rs.

This module does not decide which history tool uses survive pairing repair (`history.py`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from kiroproto.anthropic.request import CustomTool, ServerTool, Tool
from kiroproto.kiro.request import InputSchema, KiroTool, ToolSpecification

MAX_TOOL_NAME = 63
_NAME_PREFIX = 54  # 54 + "_" + 8 hex = 63
MAX_DESCRIPTION = 10_000
PLACEHOLDER_DESCRIPTION = "Tool used in conversation history"
_VALID_NAME = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
_INVALID_CHARS = re.compile(r"[^A-Za-z0-9_-]")

# Keywords whose value is a schema / a map of schemas / a list of schemas (JSON Schema 2020-12).
_SCHEMA_KEYS = frozenset(
    {
        "additionalProperties",
        "unevaluatedProperties",
        "additionalItems",
        "unevaluatedItems",
        "items",
        "contains",
        "not",
        "if",
        "then",
        "else",
        "propertyNames",
    }
)
_SCHEMA_MAP_KEYS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_SCHEMA_LIST_KEYS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})


def kiro_tool_name(name: str) -> str:
    """The name sent to Kiro for a client tool name (identity when already valid)."""
    if _VALID_NAME.match(name):
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return f"{_INVALID_CHARS.sub('_', name)[:_NAME_PREFIX]}_{digest}"


class ToolNames:
    """Collects every tool name sent to Kiro, remembering the client's original name."""

    def __init__(self) -> None:
        self._restore: dict[str, str] = {}

    def to_kiro(self, name: str) -> str:
        short = kiro_tool_name(name)
        self._restore.setdefault(short, name)
        return short

    def restore_map(self) -> dict[str, str]:
        """Kiro name -> client name, for every name sent (identity entries included)."""
        return dict(self._restore)


def _description(tool: CustomTool) -> str:
    text = tool.description or ""
    if not text.strip():
        return tool.name or "tool"
    return text[:MAX_DESCRIPTION]


def _lower_type(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, list):
        return [v.lower() if isinstance(v, str) else v for v in value]
    return value


def _normalize_nested(schema: Any) -> Any:
    """Normalise a sub-schema; booleans stay, a bare type name becomes `{"type": name}`."""
    if isinstance(schema, bool):
        return schema
    if isinstance(schema, str):
        return {"type": schema.lower()}
    if not isinstance(schema, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$schema":
            continue
        if key == "type":
            out[key] = _lower_type(value)
        elif key in _SCHEMA_MAP_KEYS:
            out[key] = {k: _normalize_nested(v) for k, v in value.items()} if isinstance(value, dict) else {}
        elif key in _SCHEMA_LIST_KEYS:
            out[key] = [_normalize_nested(v) for v in value] if isinstance(value, list) else []
        elif key in _SCHEMA_KEYS:
            if isinstance(value, list):  # draft-4 tuple form of "items"
                out[key] = [_normalize_nested(v) for v in value]
            else:
                out[key] = _normalize_nested(value)
        elif key == "required":
            if isinstance(value, list):
                out[key] = list(dict.fromkeys(v for v in value if isinstance(v, str)))
        else:
            out[key] = value  # data (enum, default, const, description, ...), never rewritten
    properties = out.get("properties")
    if isinstance(properties, dict) and "required" in out:
        out["required"] = [name for name in out["required"] if name in properties]
    return out


def normalize_schema(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """A tool input schema Kiro accepts (§4.7, kiro.rs and kiro2api-rs rules together).

    Top level: `type` is `"object"`, `properties` an object (default `{}`), `required` a list of
    unique strings naming existing properties, `additionalProperties` defaults to `true`.
    Everywhere: `$schema` dropped, `type` values lower-cased, sub-schemas made objects.
    """
    out = _normalize_nested(dict(schema) if schema is not None else {})
    assert isinstance(out, dict)
    out["type"] = "object"
    if not isinstance(out.get("properties"), dict):
        out["properties"] = {}
    required = out.get("required", [])
    out["required"] = [name for name in required if name in out["properties"]]
    out.setdefault("additionalProperties", True)
    return out


def _placeholder_schema() -> dict[str, Any]:
    return {"type": "object", "properties": {}, "required": [], "additionalProperties": True}


def build_tool_specs(
    tools: Iterable[Tool], history_names: Iterable[str], names: ToolNames
) -> tuple[tuple[KiroTool, ...], bool, bool]:
    """Kiro tool specs for the declared custom tools plus placeholders for history-only names.

    `history_names` are Kiro names (already through `names`). Returns the specs, whether any
    server tool was removed and whether any placeholder was added. Duplicate names keep the
    first declaration.
    """
    specs: list[KiroTool] = []
    declared: set[str] = set()
    removed_server = False
    for tool in tools:
        if isinstance(tool, ServerTool):
            removed_server = True
            continue
        short = names.to_kiro(tool.name)
        if short in declared:
            continue
        declared.add(short)
        specs.append(_spec(short, _description(tool), normalize_schema(tool.input_schema)))
    added_placeholder = False
    # Exact comparison: the upstream's "declared" check is not known to ignore case (the
    # simulator's is exact), so `read` used in history needs its own spec beside `Read`.
    for short in history_names:
        if short in declared:
            continue
        declared.add(short)
        specs.append(_spec(short, PLACEHOLDER_DESCRIPTION, _placeholder_schema()))
        added_placeholder = True
    return tuple(specs), removed_server, added_placeholder


def _spec(name: str, description: str, schema: dict[str, Any]) -> KiroTool:
    return KiroTool(
        tool_specification=ToolSpecification(
            name=name, description=description, input_schema=InputSchema(json_=schema)
        )
    )


__all__ = [
    "MAX_DESCRIPTION",
    "MAX_TOOL_NAME",
    "PLACEHOLDER_DESCRIPTION",
    "ToolNames",
    "build_tool_specs",
    "kiro_tool_name",
    "normalize_schema",
]
