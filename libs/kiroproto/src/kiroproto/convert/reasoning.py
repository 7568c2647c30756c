"""Reasoning as data (kiro-protocol.md §19.5): the per-account last step of the conversion.

`convert_anthropic_request` builds the classic body once: thinking as `<thinking_mode>` tags in
the system pair (§4.11) and history thinking as `<thinking>` text. It also records a
`ReasoningPlan`: what the client asked for and, for every assistant history entry that carried
thinking, that entry in two other forms. `apply_reasoning` then shapes the body for the serving
account, after the lease is known:

- no `additionalModelRequestFieldsSchema` for the model (the classic host): the body as built;
- with a schema: the tag prefix comes out of the system pair (the pair goes when it held only
  the prefix), history thinking goes back as `reasoningContent {reasoningText: {text,
  signature}}` (one block per assistant message: its first signed thinking block; the
  `<thinking>` text is removed), and the top-level `additionalModelRequestFields` carries what
  the schema allows of `thinking` (with the client's `display`), `output_config.effort`,
  `max_tokens` (and `reasoning.effort` for GPT-style schemas). `thinking.enabled` becomes
  `adaptive` where the schema has no budget; numbers are clamped to the schema's bounds;
  every field is checked with `schema_allows` and left out when it does not validate;
- `strip_history=True` (the one retry after `THINKING_SIGNATURE_INVALID`): history thinking
  is left out entirely.

Placement: `additionalModelRequestFields` sits at the top level of the body, next to
`conversationState` and `profileArn` (as in Bedrock's Converse API; the reference does not pin
it down). The result is a new dict; the input is never mutated (lists and entries it changes
are shallow copies), so one conversion serves every attempt.

Deliberately not here: the schema's source (the lease grant's catalogue entry, in the gateway).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kiroproto.convert.thinking import EnabledThinking, ThinkingMode


@dataclass(frozen=True, slots=True)
class HistoryReasoning:
    """One assistant history entry with thinking: its wire index and its two other forms."""

    index: int
    with_reasoning: Mapping[str, Any]  # the entry with `reasoningContent` (schema path)
    without: Mapping[str, Any]  # the entry with no thinking at all (the signature retry)


@dataclass(frozen=True, slots=True)
class ReasoningPlan:
    thinking: ThinkingMode | None = None
    effort: str | None = None  # the client's `output_config.effort` as given ("max" included)
    max_tokens: int | None = None
    display: str | None = None  # the client's `thinking.display` ("summarized" | "omitted")
    tag_prefix: bool = False  # history[0] starts with the thinking tags
    system_text: str = ""  # history[0]'s content without the tags ("" : the pair held only them)
    history: tuple[HistoryReasoning, ...] = field(default_factory=tuple)


def apply_reasoning(
    wire: Mapping[str, Any],
    plan: ReasoningPlan,
    schema: Mapping[str, Any] | None,
    *,
    strip_history: bool = False,
) -> dict[str, Any]:
    """The body for an account whose catalogue gives `schema` (None: none); see the module doc."""
    if schema is None and not (strip_history and plan.history):
        return dict(wire)
    state = dict(wire["conversationState"])
    history = list(state.get("history", ()))
    for entry in plan.history:
        if strip_history:
            history[entry.index] = entry.without
        elif schema is not None:
            history[entry.index] = entry.with_reasoning
    body = dict(wire)
    if schema is not None:
        if plan.tag_prefix:
            if plan.system_text:
                first = dict(history[0]["userInputMessage"])
                first["content"] = plan.system_text
                history[0] = {"userInputMessage": first}
            else:
                del history[0:2]
        fields = request_fields(plan, schema)
        if fields:
            body["additionalModelRequestFields"] = fields
    state["history"] = history
    body["conversationState"] = state
    return body


def request_fields(plan: ReasoningPlan, schema: Mapping[str, Any]) -> dict[str, Any]:
    """`additionalModelRequestFields` for `plan`, limited to what `schema` allows."""
    props = _properties(schema)
    fields: dict[str, Any] = {}
    thinking = _thinking_field(plan.thinking, props.get("thinking"), plan.display)
    if thinking is not None:
        fields["thinking"] = thinking
    if plan.effort is not None:
        for key in ("output_config", "reasoning"):
            if key in props:
                fields[key] = {"effort": plan.effort}
    if plan.max_tokens is not None and "max_tokens" in props:
        fields["max_tokens"] = _clamp(plan.max_tokens, props["max_tokens"])
    return {k: v for k, v in fields.items() if k in props and schema_allows(props[k], v)}


def _thinking_field(mode: ThinkingMode | None, schema: Any, display: str | None) -> dict[str, Any] | None:
    if mode is None or not isinstance(schema, Mapping):
        return None
    props = _properties(schema)
    types = _choices(props.get("type"))
    field: dict[str, Any]
    if isinstance(mode, EnabledThinking) and "budget_tokens" in props and _admits(types, "enabled"):
        field = {"type": "enabled", "budget_tokens": _clamp(mode.budget, props["budget_tokens"])}
    elif _admits(types, "adaptive"):
        field = {"type": "adaptive"}
    else:
        return None
    if display is not None and "display" in props and schema_allows(props["display"], display):
        field["display"] = display
    return field


def _properties(schema: Any) -> Mapping[str, Any]:
    props = schema.get("properties") if isinstance(schema, Mapping) else None
    return props if isinstance(props, Mapping) else {}


def _choices(schema: Any) -> Sequence[Any] | None:
    """The values a property admits (enum / const); None when any string goes."""
    if not isinstance(schema, Mapping):
        return None
    if "const" in schema:
        return [schema["const"]]
    enum = schema.get("enum")
    return enum if isinstance(enum, list) else None


def _admits(choices: Sequence[Any] | None, value: str) -> bool:
    return choices is not None and value in choices


def _clamp(value: int, schema: Any) -> int:
    if isinstance(schema, Mapping):
        low, high = schema.get("minimum"), schema.get("maximum")
        if isinstance(low, int | float):
            value = max(value, int(low))
        if isinstance(high, int | float):
            value = min(value, int(high))
    return value


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def schema_allows(schema: Any, value: Any) -> bool:
    """A small JSON Schema subset: type, enum, const, minimum, maximum, properties,
    required, additionalProperties (false or a schema), items. Unknown keywords pass."""
    if not isinstance(schema, Mapping):
        return True
    kind = schema.get("type")
    if isinstance(kind, str) and kind in _TYPES:
        if isinstance(value, bool) and kind not in ("boolean",):
            return False
        if not isinstance(value, _TYPES[kind]):
            return False
    if "const" in schema and value != schema["const"]:
        return False
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = schema.get("minimum"), schema.get("maximum")
        if isinstance(low, int | float) and value < low:
            return False
        if isinstance(high, int | float) and value > high:
            return False
    if isinstance(value, dict):
        props = _properties(schema)
        required = schema.get("required")
        if isinstance(required, list) and any(key not in value for key in required):
            return False
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                if not schema_allows(props[key], item):
                    return False
            elif extra is False or (isinstance(extra, Mapping) and not schema_allows(extra, item)):
                return False
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return all(schema_allows(schema["items"], item) for item in value)
    return True


__all__ = ["HistoryReasoning", "ReasoningPlan", "apply_reasoning", "request_fields", "schema_allows"]
