"""Reasoning as data on the newer host (kiro-protocol.md §19.5), the simulator's side.

An account with `request_fields_schemas` on plays the newer host: its `ListAvailableModels`
gives the models in `SCHEMAS` an `additionalModelRequestFieldsSchema`, and its chat surface
accepts `additionalModelRequestFields` (top level of the body) and history `reasoningContent`
for those models only, strictly: a field the schema does not allow is a 400. Sonnet 5 style
models have no thinking budget (`adaptive` | `disabled`); Opus 4.8 keeps `enabled` with
`budget_tokens`. A request that turns thinking on this way is answered with
`reasoningContentEvent`s (text fragments, then the signature) instead of `<thinking>` tags.

Signatures: the simulator signs reasoning with `signature_of(text)`; a history reasoning block
whose signature is not that is rejected with 400 `THINKING_SIGNATURE_INVALID` (§19.3).

This is the simulator's own code: the schema checker below imports nothing from the gateway
or kiroproto, so it can catch the converter's mistakes.
"""

from __future__ import annotations

import hashlib
from typing import Any

_EFFORT = {"type": "string", "enum": ["low", "medium", "high", "max"]}
_MAX_TOKENS = {"type": "integer", "minimum": 1024, "maximum": 64000}


def _schema(thinking: dict[str, Any]) -> dict[str, Any]:
    """A request-fields schema whose `thinking` object has these properties."""
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "thinking": {
                "type": "object",
                "additionalProperties": False,
                "required": ["type"],
                "properties": thinking,
            },
            "output_config": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"effort": _EFFORT},
            },
            "max_tokens": _MAX_TOKENS,
        },
    }


ADAPTIVE_ONLY = _schema(
    {
        "type": {"type": "string", "enum": ["adaptive", "disabled"]},
        "display": {"type": "string", "enum": ["summarized", "omitted"]},
    }
)

WITH_BUDGET = _schema(
    {
        "type": {"type": "string", "enum": ["enabled", "adaptive", "disabled"]},
        "budget_tokens": {"type": "integer", "minimum": 1024, "maximum": 32000},
    }
)

SCHEMAS: dict[str, dict[str, Any]] = {
    "claude-sonnet-5": ADAPTIVE_ONLY,
    "claude-sonnet-5.5": ADAPTIVE_ONLY,
    "claude-opus-5": ADAPTIVE_ONLY,
    "claude-opus-5.5": ADAPTIVE_ONLY,
    "claude-opus-4.8": WITH_BUDGET,
}


def schema_for(enabled: bool, model_id: str) -> dict[str, Any] | None:
    """The model's request-fields schema on an account with schemas on (else None)."""
    return SCHEMAS.get(model_id) if enabled else None


def signature_of(text: str) -> str:
    return "simsig_" + hashlib.sha256(text.encode()).hexdigest()[:40]


def violation(schema: Any, value: Any, path: str = "additionalModelRequestFields") -> str | None:
    """The first place where `value` breaks `schema` (type, enum, bounds, required,
    additionalProperties), or None when it validates."""
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    checks = {
        "object": lambda v: isinstance(v, dict),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    if kind in checks and not checks[kind](value):
        return f"{path} is not of type {kind}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{path} {value!r} is not one of {schema['enum']}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{path} {value} is below {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{path} {value} is above {schema['maximum']}"
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", ()):
            if key not in value:
                return f"{path}.{key} is required"
        for key, item in value.items():
            if key in props:
                problem = violation(props[key], item, f"{path}.{key}")
                if problem is not None:
                    return problem
            elif schema.get("additionalProperties", True) is False:
                return f"{path}.{key} is not allowed"
    return None


def thinking_on(fields: Any) -> bool:
    """The request fields turn thinking on (answer with reasoningContentEvents)."""
    thinking = fields.get("thinking") if isinstance(fields, dict) else None
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
