"""The simulator's named validation rules and the switchboard that turns them on and off.

Every rule is on by default ("strict where the reference says unknown", CONTRACTS.md). A rule
that is off is skipped by the validator; the request is then processed as if that part were
valid. The three pseudo-rules in `ALWAYS_ON` name rejections that cannot be switched off
(a body that is not a Kiro request at all, an unknown bearer token, a scripting directive
that does not parse); they appear in the stats like the others.

Deliberately not here: the checks themselves (`validate.py`) and the error bodies
(`errors.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum


class Rule(StrEnum):
    # always on
    ENVELOPE = "envelope"
    BEARER_TOKEN = "bearer_token"
    SIM_DIRECTIVE = "sim_directive"
    # account state (always on; change the account instead)
    SUSPENDED = "suspended"
    QUOTA = "quota"
    # switchable: request envelope
    CONTENT_TYPE = "content_type"
    BODY_SIZE = "body_size"
    CHAT_TRIGGER_TYPE = "chat_trigger_type"
    AGENT_TASK_TYPE = "agent_task_type"
    CONVERSATION_ID = "conversation_id"
    PROFILE_ARN = "profile_arn"
    ORIGIN = "origin"
    MODEL_ID = "model_id"
    HISTORY_MODEL_ID = "history_model_id"
    # switchable: history
    HISTORY_SHAPE = "history_shape"
    HISTORY_ALTERNATION = "history_alternation"
    HISTORY_ENDS_WITH_ASSISTANT = "history_ends_with_assistant"
    USER_CONTENT = "user_content"
    ASSISTANT_CONTENT = "assistant_content"
    IMAGES = "images"
    # switchable: tools
    TOOLS_ONLY_CURRENT = "tools_only_current"
    TOOL_SPEC_SHAPE = "tool_spec_shape"
    TOOL_NAME = "tool_name"
    TOOL_NAMES_UNIQUE = "tool_names_unique"
    TOOL_DESCRIPTION_EMPTY = "tool_description_empty"
    TOOL_DESCRIPTION_LENGTH = "tool_description_length"
    TOOL_SCHEMA = "tool_schema"
    HISTORY_TOOLS_DECLARED = "history_tools_declared"
    TOOL_USE_SHAPE = "tool_use_shape"
    TOOL_USE_UNIQUE = "tool_use_unique"
    TOOL_USE_ANSWERED = "tool_use_answered"
    TOOL_RESULT_SHAPE = "tool_result_shape"
    TOOL_RESULT_MATCHES_USE = "tool_result_matches_use"
    TOOL_RESULT_UNIQUE = "tool_result_unique"
    # switchable: reasoning as data (§19.5, reasoning.py)
    REASONING_FIELDS = "reasoning_fields"
    REASONING_CONTENT = "reasoning_content"
    THINKING_SIGNATURE = "thinking_signature"
    # switchable: other surfaces
    RUNTIME_QUERY = "runtime_query"
    MCP_REQUEST = "mcp_request"
    DEVICE_POLL_INTERVAL = "device_poll_interval"
    LOGIN_REDIRECT_URI = "login_redirect_uri"


ALWAYS_ON: frozenset[Rule] = frozenset(
    {Rule.ENVELOPE, Rule.BEARER_TOKEN, Rule.SIM_DIRECTIVE, Rule.SUSPENDED, Rule.QUOTA}
)

DESCRIPTIONS: dict[Rule, str] = {
    Rule.ENVELOPE: "body is a JSON object with conversationState.currentMessage.userInputMessage",
    Rule.BEARER_TOKEN: "Authorization: Bearer <known, unexpired access token>",
    Rule.SIM_DIRECTIVE: "a <<sim:{...}>> directive parses and is a valid script",
    Rule.SUSPENDED: "the account is not suspended",
    Rule.QUOTA: "the account has credits left",
    Rule.CONTENT_TYPE: "Content-Type is application/json",
    Rule.BODY_SIZE: "body is at most body_limit bytes (else CONTENT_LENGTH_EXCEEDS_THRESHOLD)",
    Rule.CHAT_TRIGGER_TYPE: "chatTriggerType is MANUAL, INLINE_CHAT or DIAGNOSTIC",
    Rule.AGENT_TASK_TYPE: "agentTaskType, when present, is vibe or spectask",
    Rule.CONVERSATION_ID: "conversationId (and agentContinuationId when present) is a UUID",
    Rule.PROFILE_ARN: "profileArn is the account's (required for social accounts)",
    Rule.ORIGIN: "every userInputMessage has origin AI_EDITOR",
    Rule.MODEL_ID: "currentMessage modelId is in the account's model list (else INVALID_MODEL_ID)",
    Rule.HISTORY_MODEL_ID: "every history userInputMessage carries a modelId string",
    Rule.HISTORY_SHAPE: "history is a list of {userInputMessage} / {assistantResponseMessage} objects",
    Rule.HISTORY_ALTERNATION: "history starts with a user entry and strictly alternates",
    Rule.HISTORY_ENDS_WITH_ASSISTANT: "a non-empty history ends with an assistant entry",
    Rule.USER_CONTENT: "user content is a string, empty only when toolResults are present",
    Rule.ASSISTANT_CONTENT: "assistant content is a non-empty string",
    Rule.IMAGES: "images are {format: jpeg|png|gif|webp, source: {bytes: <valid base64>}}",
    Rule.TOOLS_ONLY_CURRENT: "tools are declared only on currentMessage",
    Rule.TOOL_SPEC_SHAPE: "tools is a list of {toolSpecification: {...}} objects",
    Rule.TOOL_NAME: "tool names match ^[A-Za-z0-9_-]+$ and are at most tool_name_max chars",
    Rule.TOOL_NAMES_UNIQUE: "declared tool names are unique",
    Rule.TOOL_DESCRIPTION_EMPTY: "tool descriptions are non-blank (else REQUEST_BODY_INVALID)",
    Rule.TOOL_DESCRIPTION_LENGTH: "tool descriptions are at most tool_description_max chars",
    Rule.TOOL_SCHEMA: "inputSchema.json is an object schema (type object, properties object, "
    "required list of strings)",
    Rule.HISTORY_TOOLS_DECLARED: "tools used in history are declared (else TOOL_CONFIG_MISSING)",
    Rule.TOOL_USE_SHAPE: "toolUses is a list of {toolUseId, name, input: object}",
    Rule.TOOL_USE_UNIQUE: "toolUseIds are unique across the history",
    Rule.TOOL_USE_ANSWERED: "every toolUse is answered in the immediately following user entry",
    Rule.TOOL_RESULT_SHAPE: "toolResults are {toolUseId, content: [{text}|{json}, ...], status}",
    Rule.TOOL_RESULT_MATCHES_USE: "every toolResult answers a toolUse of the preceding assistant entry",
    Rule.TOOL_RESULT_UNIQUE: "no two toolResults of one entry answer the same toolUseId",
    Rule.REASONING_FIELDS: "additionalModelRequestFields only where the account's catalogue gives the "
    "model a schema (request_fields_schemas), and valid against it (strict: no other fields)",
    Rule.REASONING_CONTENT: "history reasoningContent only where the model has a schema; one "
    "{reasoningText: {text, signature}} per assistant message",
    Rule.THINKING_SIGNATURE: "history reasoning signatures are the simulator's own "
    "(else 400 THINKING_SIGNATURE_INVALID)",
    Rule.RUNTIME_QUERY: "getUsageLimits / ListAvailableModels carry origin=AI_EDITOR (and "
    "resourceType=AGENTIC_REQUEST) and, when given, the account's profileArn",
    Rule.MCP_REQUEST: "POST /mcp is the §14 JSON-RPC shape (id, params, query of 1-200 chars) with "
    "the chat headers, x-amzn-kiro-profile-arn and no optout / agent-mode header",
    Rule.DEVICE_POLL_INTERVAL: "device-code polls come at least `interval` seconds apart (else slow_down)",
    Rule.LOGIN_REDIRECT_URI: "social login redirect_uri is kiro://kiro.kiroAgent/authenticate-success",
}


def _rule(name: str) -> Rule:
    try:
        return Rule(name)
    except ValueError:
        raise ValueError(f"unknown rule {name!r}") from None


def parse_rules(names: Iterable[str]) -> set[Rule]:
    """Rule names to rules; raises ValueError naming the first unknown one."""
    return {_rule(name) for name in names}


class RuleSet:
    """Which rules are on. Mutated only through `set()` (control API) and `reset()`."""

    def __init__(self, disabled: Iterable[str] = ()) -> None:
        self._initial = frozenset(parse_rules(disabled))
        if self._initial & ALWAYS_ON:
            raise ValueError(f"rules {sorted(self._initial & ALWAYS_ON)} cannot be switched off")
        self.enabled: frozenset[Rule] = frozenset(Rule) - self._initial

    def __contains__(self, rule: Rule) -> bool:
        return rule in self.enabled

    def set(self, changes: Mapping[str, bool]) -> None:
        """Switch rules on (True) or off (False); all-or-nothing on an unknown name."""
        parsed = [(_rule(name), on) for name, on in changes.items()]
        enabled = set(self.enabled)
        for rule, on in parsed:
            if not on and rule in ALWAYS_ON:
                raise ValueError(f"rule {rule.value!r} cannot be switched off")
            if on:
                enabled.add(rule)
            else:
                enabled.discard(rule)
        self.enabled = frozenset(enabled)

    def reset(self) -> None:
        self.enabled = frozenset(Rule) - self._initial

    def as_dict(self) -> dict[str, bool]:
        return {rule.value: rule in self.enabled for rule in Rule}
