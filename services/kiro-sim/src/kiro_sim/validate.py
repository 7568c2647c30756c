"""The simulator's own validator of `generateAssistantResponse` bodies (kiro-protocol.md §3, §4, §15).

Independent of the gateway's converter on purpose (it imports nothing from kiroproto but the
event-stream codec elsewhere), so it catches the converter's mistakes. It walks the parsed
JSON once, checks each named `Rule` in a fixed order and raises `Rejected(rule, error)` for the
first enabled rule that fails. A rule that is switched off is skipped and the walk carries on
as if that part were valid (malformed parts are then ignored, never crash the simulator).

The result, `ChatSummary`, is the little the response generator needs.

Deliberately not here: auth, quota and body-size checks (the chat route does them before
parsing), and the tool-schema *meaning* (only its shape is checked).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from kiro_sim import errors
from kiro_sim.accounts import Account
from kiro_sim.errors import Rejected, UpstreamError
from kiro_sim.reasoning import schema_for, signature_of, thinking_on, violation
from kiro_sim.rules import Rule

CHAT_TRIGGER_TYPES = frozenset({"MANUAL", "INLINE_CHAT", "DIAGNOSTIC"})
AGENT_TASK_TYPES = frozenset({"vibe", "spectask"})
IMAGE_FORMATS = frozenset({"jpeg", "png", "gif", "webp"})
TOOL_RESULT_STATUSES = frozenset({"success", "error"})
ORIGIN = "AI_EDITOR"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]+$")

USER = "userInputMessage"
ASSISTANT = "assistantResponseMessage"


@dataclass(frozen=True, slots=True)
class ChatSummary:
    conversation_id: str
    model_id: str
    current_text: str
    first_user_text: str
    tool_names: tuple[str, ...]
    tool_result_texts: tuple[str, ...]
    native_thinking: bool = False  # additionalModelRequestFields turned thinking on (reasoning.py)


@dataclass(frozen=True, slots=True)
class Limits:
    tool_name_max: int
    tool_description_max: int


@dataclass(slots=True)
class _Entry:
    role: str  # USER or ASSISTANT
    msg: dict[str, Any]
    use_ids: list[str]
    use_names: list[str]
    result_ids: list[str]


class _Checker:
    __slots__ = ("enabled",)

    def __init__(self, enabled: Collection[Rule]) -> None:
        self.enabled = enabled

    def fail(self, rule: Rule, detail: str, error: UpstreamError = errors.IMPROPER) -> None:
        """Reject if `rule` is on; otherwise return and let the caller carry on."""
        if rule in self.enabled:
            raise Rejected(rule, error, detail)

    def items(self, value: Any, rule: Rule, what: str) -> list[Any]:
        """The list `value` is: [] when absent; [] and a failed `rule` when it is not a list."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(rule, f"{what} is not a list")
            return []
        return value


def _envelope(detail: str) -> Rejected:
    return Rejected(Rule.ENVELOPE, errors.IMPROPER, detail)


def validate_chat(doc: Any, account: Account, enabled: Collection[Rule], limits: Limits) -> ChatSummary:
    """Check a parsed request body; return its summary or raise `Rejected`."""
    check = _Checker(enabled)
    if not isinstance(doc, dict):
        raise _envelope("body is not a JSON object")
    state = doc.get("conversationState")
    if not isinstance(state, dict):
        raise _envelope("conversationState missing or not an object")
    current_wrapper = state.get("currentMessage")
    current = current_wrapper.get(USER) if isinstance(current_wrapper, dict) else None
    if not isinstance(current, dict):
        raise _envelope("conversationState.currentMessage.userInputMessage missing or not an object")

    if state.get("chatTriggerType") not in CHAT_TRIGGER_TYPES:
        check.fail(Rule.CHAT_TRIGGER_TYPE, f"chatTriggerType {state.get('chatTriggerType')!r}")
    if "agentTaskType" in state and state["agentTaskType"] not in AGENT_TASK_TYPES:
        check.fail(Rule.AGENT_TASK_TYPE, f"agentTaskType {state['agentTaskType']!r}")
    conversation_id = state.get("conversationId")
    if not isinstance(conversation_id, str) or not _UUID.match(conversation_id):
        check.fail(Rule.CONVERSATION_ID, "conversationId is not a UUID")
        conversation_id = conversation_id if isinstance(conversation_id, str) else ""
    if "agentContinuationId" in state:
        cont = state["agentContinuationId"]
        if not isinstance(cont, str) or not _UUID.match(cont):
            check.fail(Rule.CONVERSATION_ID, "agentContinuationId is not a UUID")
    _check_profile_arn(check, doc.get("profileArn"), account)

    model_id = current.get("modelId")
    if not isinstance(model_id, str):
        check.fail(Rule.MODEL_ID, "currentMessage modelId missing")
        model_id = ""
    elif model_id not in account.models:
        check.fail(Rule.MODEL_ID, f"model {model_id!r} not enabled for the account", errors.INVALID_MODEL)

    schema = schema_for(account.request_fields_schemas, model_id)
    fields = doc.get("additionalModelRequestFields")
    if fields is not None:
        problem = (
            "the model has no request-fields schema here" if schema is None else violation(schema, fields)
        )
        if problem is not None:
            check.fail(Rule.REASONING_FIELDS, problem, errors.REASONING_FIELDS)

    entries = _history_entries(check, state.get("history"))
    for entry in entries:
        if entry.role == USER:
            _check_user(check, entry, in_history=True)
        else:
            _check_assistant(check, entry)
            _check_reasoning(check, entry.msg.get("reasoningContent"), schema is not None)
    current_entry = _Entry(USER, current, [], [], [])
    _check_user(check, current_entry, in_history=False)
    tool_names = _check_tools(check, current, limits)

    roles = [e.role for e in entries]
    if roles:
        if roles[0] != USER or any(a == b for a, b in zip(roles, roles[1:], strict=False)):
            check.fail(
                Rule.HISTORY_ALTERNATION, "history does not alternate user/assistant from a user entry"
            )
        if roles[-1] != ASSISTANT:
            check.fail(Rule.HISTORY_ENDS_WITH_ASSISTANT, "history does not end with an assistant entry")
    _check_pairing(check, [*entries, current_entry])

    used = {name for e in entries for name in e.use_names}
    missing = used.difference(tool_names)
    if missing:
        check.fail(
            Rule.HISTORY_TOOLS_DECLARED,
            f"history uses undeclared tools {sorted(missing)}",
            errors.TOOL_CONFIG_MISSING,
        )

    current_text = current.get("content")
    current_text = current_text if isinstance(current_text, str) else ""
    first_user = next((e.msg for e in entries if e.role == USER), current)
    first_text = first_user.get("content")
    return ChatSummary(
        conversation_id=conversation_id,
        model_id=model_id,
        current_text=current_text,
        first_user_text=first_text if isinstance(first_text, str) else "",
        tool_names=tuple(tool_names),
        tool_result_texts=tuple(_result_texts(current)),
        native_thinking=schema is not None and thinking_on(fields),
    )


def _check_reasoning(check: _Checker, content: Any, has_schema: bool) -> None:
    """History `reasoningContent`: only with a schema, `{reasoningText: {text, signature}}`,
    signed by the simulator (§19.3, §19.5)."""
    if content is None:
        return
    if not has_schema:
        check.fail(Rule.REASONING_CONTENT, "reasoningContent for a model without a request-fields schema")
        return
    inner = content.get("reasoningText") if isinstance(content, dict) else None
    if not isinstance(content, dict) or set(content) != {"reasoningText"} or not isinstance(inner, dict):
        check.fail(Rule.REASONING_CONTENT, "reasoningContent is not {reasoningText: {...}}")
        return
    text, signature = inner.get("text"), inner.get("signature")
    if not isinstance(text, str) or not isinstance(signature, str) or set(inner) - {"text", "signature"}:
        check.fail(Rule.REASONING_CONTENT, "reasoningText needs a string text and signature")
        return
    if signature != signature_of(text):
        check.fail(
            Rule.THINKING_SIGNATURE, "a reasoning signature was not issued here", errors.SIGNATURE_INVALID
        )


def _check_profile_arn(check: _Checker, arn: Any, account: Account) -> None:
    if arn is None:
        if account.auth == "social":
            check.fail(Rule.PROFILE_ARN, "profileArn is required for social accounts")
    elif arn != account.profile_arn:
        check.fail(Rule.PROFILE_ARN, "profileArn does not belong to this token", errors.NOT_AUTHORIZED)


def _history_entries(check: _Checker, history: Any) -> list[_Entry]:
    history = check.items(history, Rule.HISTORY_SHAPE, "history")
    out: list[_Entry] = []
    for index, item in enumerate(history):
        keys = [k for k in (USER, ASSISTANT) if isinstance(item, dict) and k in item]
        msg = item.get(keys[0]) if len(keys) == 1 else None
        if not isinstance(msg, dict):
            check.fail(Rule.HISTORY_SHAPE, f"history[{index}] is not exactly one message object")
            continue
        out.append(_Entry(keys[0], msg, [], [], []))
    return out


def _check_user(check: _Checker, entry: _Entry, *, in_history: bool) -> None:
    msg = entry.msg
    where = "history user entry" if in_history else "currentMessage"
    if msg.get("origin") != ORIGIN:
        check.fail(Rule.ORIGIN, f"{where} origin {msg.get('origin')!r}")
    if in_history and not isinstance(msg.get("modelId"), str):
        check.fail(Rule.HISTORY_MODEL_ID, "history user entry without modelId")
    _check_images(check, msg.get("images"))

    context = msg.get("userInputMessageContext")
    if context is None:
        context = {}
    elif not isinstance(context, dict):
        raise _envelope(f"{where} userInputMessageContext is not an object")
    if in_history and "tools" in context:
        check.fail(Rule.TOOLS_ONLY_CURRENT, "tools declared on a history user entry")
    entry.result_ids = _tool_results(check, context.get("toolResults"))

    content = msg.get("content")
    if not isinstance(content, str):
        check.fail(Rule.USER_CONTENT, f"{where} content is not a string")
    elif content == "" and not entry.result_ids:
        check.fail(Rule.USER_CONTENT, f"{where} content is empty without toolResults")


def _check_images(check: _Checker, images: Any) -> None:
    images = check.items(images, Rule.IMAGES, "images")
    for image in images:
        if not isinstance(image, dict) or image.get("format") not in IMAGE_FORMATS:
            check.fail(Rule.IMAGES, "image format not one of jpeg, png, gif, webp")
            continue
        source = image.get("source")
        data = source.get("bytes") if isinstance(source, dict) else None
        if not isinstance(data, str) or not data or not _is_base64(data):
            check.fail(Rule.IMAGES, "image source.bytes is not base64")


def _is_base64(data: str) -> bool:
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _tool_results(check: _Checker, results: Any) -> list[str]:
    results = check.items(results, Rule.TOOL_RESULT_SHAPE, "toolResults")
    ids: list[str] = []
    for result in results:
        if not isinstance(result, dict):
            check.fail(Rule.TOOL_RESULT_SHAPE, "toolResult is not an object")
            continue
        use_id = result.get("toolUseId")
        if not isinstance(use_id, str) or not use_id:
            check.fail(Rule.TOOL_RESULT_SHAPE, "toolResult without toolUseId")
        else:
            ids.append(use_id)
        if result.get("status") not in TOOL_RESULT_STATUSES:
            check.fail(Rule.TOOL_RESULT_SHAPE, f"toolResult status {result.get('status')!r}")
        content = result.get("content")
        if not isinstance(content, list) or not content:
            check.fail(Rule.TOOL_RESULT_SHAPE, "toolResult content is not a non-empty list")
            continue
        for item in content:
            ok = (
                isinstance(item, dict)
                and len(item) == 1
                and (isinstance(item.get("text"), str) or "json" in item)
            )
            if not ok:
                check.fail(
                    Rule.TOOL_RESULT_SHAPE, "toolResult content item is not {text: str} or {json: ...}"
                )
    return ids


def _check_assistant(check: _Checker, entry: _Entry) -> None:
    msg = entry.msg
    content = msg.get("content")
    if not isinstance(content, str) or content == "":
        check.fail(Rule.ASSISTANT_CONTENT, "assistant content is empty or not a string")
    uses = check.items(msg.get("toolUses"), Rule.TOOL_USE_SHAPE, "toolUses")
    for use in uses:
        use_id = use.get("toolUseId") if isinstance(use, dict) else None
        name = use.get("name") if isinstance(use, dict) else None
        if not isinstance(use_id, str) or not use_id or not isinstance(name, str) or not name:
            check.fail(Rule.TOOL_USE_SHAPE, "toolUse without toolUseId or name")
            continue
        if not isinstance(use.get("input"), dict):
            check.fail(Rule.TOOL_USE_SHAPE, f"toolUse {use_id} input is not a JSON object")
        entry.use_ids.append(use_id)
        entry.use_names.append(name)


def _check_pairing(check: _Checker, seq: list[_Entry]) -> None:
    seen_uses: set[str] = set()
    for index, entry in enumerate(seq):
        if entry.role == ASSISTANT:
            for use_id in entry.use_ids:
                if use_id in seen_uses:
                    check.fail(Rule.TOOL_USE_UNIQUE, f"toolUseId {use_id} used twice")
                seen_uses.add(use_id)
            following = seq[index + 1] if index + 1 < len(seq) else None
            answered = (
                set(following.result_ids) if following is not None and following.role == USER else set()
            )
            unanswered = [u for u in entry.use_ids if u not in answered]
            if unanswered:
                check.fail(
                    Rule.TOOL_USE_ANSWERED, f"toolUses {unanswered} not answered in the next user entry"
                )
            continue
        if len(set(entry.result_ids)) != len(entry.result_ids):
            check.fail(Rule.TOOL_RESULT_UNIQUE, "two toolResults answer the same toolUseId")
        previous = seq[index - 1] if index > 0 else None
        issued = set(previous.use_ids) if previous is not None and previous.role == ASSISTANT else set()
        stray = [r for r in entry.result_ids if r not in issued]
        if stray:
            check.fail(
                Rule.TOOL_RESULT_MATCHES_USE, f"toolResults {stray} answer no toolUse of the preceding entry"
            )


def _check_tools(check: _Checker, current: dict[str, Any], limits: Limits) -> list[str]:
    context = current.get("userInputMessageContext")
    tools = context.get("tools") if isinstance(context, dict) else None
    tools = check.items(tools, Rule.TOOL_SPEC_SHAPE, "tools")
    names: list[str] = []
    for tool in tools:
        spec = tool.get("toolSpecification") if isinstance(tool, dict) else None
        if not isinstance(spec, dict):
            check.fail(Rule.TOOL_SPEC_SHAPE, "tool is not {toolSpecification: {...}}")
            continue
        name = spec.get("name")
        if not isinstance(name, str):
            check.fail(Rule.TOOL_SPEC_SHAPE, "tool without a name")
            continue
        if not name or len(name) > limits.tool_name_max or not _TOOL_NAME.match(name):
            check.fail(Rule.TOOL_NAME, f"tool name {name[:80]!r} (length {len(name)})")
        if name in names:
            check.fail(Rule.TOOL_NAMES_UNIQUE, f"tool {name!r} declared twice")
        names.append(name)
        description = spec.get("description")
        if not isinstance(description, str) or not description.strip():
            check.fail(
                Rule.TOOL_DESCRIPTION_EMPTY, f"tool {name!r} has an empty description", errors.TOOL_FORMAT
            )
        elif len(description) > limits.tool_description_max:
            check.fail(
                Rule.TOOL_DESCRIPTION_LENGTH, f"tool {name!r} description has {len(description)} chars"
            )
        _check_schema(check, name, spec.get("inputSchema"))
    return names


def _check_schema(check: _Checker, name: str, input_schema: Any) -> None:
    schema = input_schema.get("json") if isinstance(input_schema, dict) else None
    if not isinstance(schema, dict) or schema.get("type") != "object":
        check.fail(Rule.TOOL_SCHEMA, f"tool {name!r} inputSchema.json is not an object schema")
        return
    properties = schema.get("properties")
    if properties is not None and not isinstance(properties, dict):
        check.fail(Rule.TOOL_SCHEMA, f"tool {name!r} schema properties is not an object")
    required = schema.get("required")
    if required is not None and (
        not isinstance(required, list) or not all(isinstance(r, str) for r in required)
    ):
        check.fail(Rule.TOOL_SCHEMA, f"tool {name!r} schema required is not a list of strings")


def _result_texts(current: dict[str, Any]) -> list[str]:
    context = current.get("userInputMessageContext")
    results = context.get("toolResults") if isinstance(context, dict) else None
    texts: list[str] = []
    for result in results if isinstance(results, list) else ():
        content = result.get("content") if isinstance(result, dict) else None
        for item in content if isinstance(content, list) else ():
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                texts.append(item["text"])
    return texts
