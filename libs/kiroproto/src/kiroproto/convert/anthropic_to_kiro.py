"""Anthropic `MessagesRequest` -> Kiro `KiroRequest` (kiro-protocol.md §4.1), the one path into Kiro.

Steps: flatten each message into a turn (`content.py`; `role: "system"` entries are folded into
the system text), canonicalise the turns (`history.py`), build the tool specs and placeholders
(`tools.py`), put the system prompt in front as its own history pair, and assemble the body.

Choices (see also the docstrings of the modules named above):

- System prompt: a separate first history pair, as the Kiro IDE and kiro.rs do (§3.4, §4.2):
  user = `[thinking prefix + "\\n"] + system text`, assistant = `SYSTEM_ACK`. With no system
  text and no thinking there is no pair.
- Empty content is never sent: an assistant turn with tool uses but no text gets `" "`
  (kiro.rs, kiro2api-rs); an assistant turn left with nothing gets `EMPTY_ASSISTANT_TEXT`; a user
  turn without text gets `TOOL_RESULTS_TEXT` when it carries tool results, `IMAGES_TEXT` when
  it carries only images, else `CONTINUE_TEXT`.
- `conversationId`: the `conversation_id` argument, else the `session_<uuid>` in
  `metadata.user_id` (Claude Code) or its JSON `session_id`, else `uuid_factory()`.
  `agentContinuationId` is always a new `uuid_factory()` value (§4.1 step 3).
- `stop_sequences`, `max_tokens`, sampling fields and `tool_choice` have no place in the body
  (§3.2); stop sequences are handed to the response side in `KiroConversion`.

Nothing here does I/O or logs; `repairs` reports which canonicalizer rules fired.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from kiroproto.anthropic.request import MessagesRequest
from kiroproto.convert.content import message_turn, system_message_text
from kiroproto.convert.history import CONTINUE_TEXT, Repairs, Turn, canonicalize
from kiroproto.convert.reasoning import HistoryReasoning, ReasoningPlan
from kiroproto.convert.thinking import has_thinking_tags, thinking_mode, thinking_prefix
from kiroproto.convert.tools import ToolNames, build_tool_specs
from kiroproto.kiro.request import (
    AssistantEntry,
    AssistantResponseMessage,
    ConversationState,
    CurrentMessage,
    HistoryEntry,
    KiroRequest,
    KiroTool,
    ReasoningContent,
    ReasoningText,
    UserEntry,
    UserInputMessage,
    UserInputMessageContext,
)
from kiroproto.models import ResolvedModel

SYSTEM_ACK = "I will follow these instructions."
TOOL_ONLY_ASSISTANT_TEXT = " "
EMPTY_ASSISTANT_TEXT = "(no content)"
TOOL_RESULTS_TEXT = "Tool results provided."
IMAGES_TEXT = "See the attached image(s)."

_SESSION_RE = re.compile(
    r"session_([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
)


@dataclass(frozen=True, slots=True)
class KiroConversion:
    """The Kiro body plus what the response side needs to map the answer back."""

    body: KiroRequest
    tool_name_map: Mapping[str, str]
    """Name sent to Kiro -> the client's name, for every tool name sent (identity included)."""
    thinking: bool
    """The client asked for thinking: the response side extracts `<thinking>` (§7.2)."""
    stop_sequences: tuple[str, ...]
    conversation_id: str
    repairs: tuple[str, ...]
    """Names of the rules that changed the client's conversation, in the order they fired."""
    reasoning: ReasoningPlan = ReasoningPlan()
    """For `kiroproto.convert.reasoning.apply_reasoning`, the per-account last step (§19.5)."""


def _new_uuid() -> str:
    return str(uuid.uuid4())


def session_conversation_id(user_id: str | None) -> str | None:
    """The session UUID in Claude Code's `metadata.user_id` (§3.2), or None."""
    if not user_id:
        return None
    match = _SESSION_RE.search(user_id)
    if match is not None:
        return match.group(1).lower()
    try:
        parsed = json.loads(user_id)
    except (ValueError, RecursionError):  # any string a client sends: never a 500
        return None
    session = parsed.get("session_id") if isinstance(parsed, dict) else None
    if not isinstance(session, str):
        return None
    try:
        return str(uuid.UUID(session))
    except ValueError:
        return None


def _user_content(turn: Turn) -> str:
    text = "\n".join(turn.texts)
    if text.strip():
        return text
    if turn.tool_results:
        return TOOL_RESULTS_TEXT
    if turn.images:
        return IMAGES_TEXT
    return CONTINUE_TEXT


def _user_message(turn: Turn, model_id: str, tools: tuple[KiroTool, ...] = ()) -> UserInputMessage:
    context = None
    if tools or turn.tool_results:
        context = UserInputMessageContext(tools=tools or None, tool_results=turn.tool_results or None)
    return UserInputMessage(
        content=_user_content(turn),
        model_id=model_id,
        images=turn.images or None,
        user_input_message_context=context,
    )


def _assistant_message(
    turn: Turn, texts: tuple[str, ...] | None = None, reasoning: ReasoningContent | None = None
) -> AssistantResponseMessage:
    text = "\n\n".join(turn.texts if texts is None else texts)
    if not text.strip():
        text = TOOL_ONLY_ASSISTANT_TEXT if turn.tool_uses else EMPTY_ASSISTANT_TEXT
    return AssistantResponseMessage(
        content=text, tool_uses=turn.tool_uses or None, reasoning_content=reasoning
    )


def _thinking_display(req: MessagesRequest) -> str | None:
    """`thinking.display` (newer Anthropic API; kept as an extra field by the lenient model)."""
    extra = req.thinking.model_extra if req.thinking is not None else None
    display = (extra or {}).get("display")
    return display if isinstance(display, str) else None


def _history_reasoning(index: int, turn: Turn) -> HistoryReasoning:
    """The entry's forms with thinking as `reasoningContent` and with no thinking at all."""
    tags = {thought.tag_text for thought in turn.thoughts}
    texts = tuple(t for t in turn.texts if t not in tags)
    signed = next((t for t in turn.thoughts if t.signature), None)
    reasoning = None
    if signed is not None:
        reasoning = ReasoningContent(
            reasoning_text=ReasoningText(text=signed.text, signature=signed.signature)
        )

    def wire(message: AssistantResponseMessage) -> dict[str, object]:
        return AssistantEntry(assistant_response_message=message).model_dump(
            mode="json", by_alias=True, exclude_none=True
        )

    return HistoryReasoning(
        index, wire(_assistant_message(turn, texts, reasoning)), wire(_assistant_message(turn, texts))
    )


def convert_anthropic_request(
    req: MessagesRequest,
    model: ResolvedModel,
    *,
    profile_arn: str | None = None,
    conversation_id: str | None = None,
    uuid_factory: Callable[[], str] = _new_uuid,
) -> KiroConversion:
    """Build the Kiro request for `req`; raises `ConversionError` for content Kiro cannot take."""
    repairs = Repairs()
    names = ToolNames()
    system_parts = [req.system_text()]
    turns: list[Turn] = []
    for message in req.messages:
        if message.role == "system":
            repairs.add("folded_system_message")
            system_parts.append(system_message_text(message))
        else:
            turns.append(message_turn(message, names, repairs))
    canonical = canonicalize(turns, repairs)

    system_text = "\n".join(part for part in system_parts if part.strip())
    mode = thinking_mode(req.thinking, req.output_config, model)
    prefix = thinking_prefix(mode) if mode is not None and not has_thinking_tags(system_text) else ""
    history: list[HistoryEntry] = []
    system_user = "\n".join(part for part in (prefix, system_text) if part)
    if system_user:
        history.append(
            UserEntry(user_input_message=UserInputMessage(content=system_user, model_id=model.kiro_id))
        )
        history.append(
            AssistantEntry(assistant_response_message=AssistantResponseMessage(content=SYSTEM_ACK))
        )
    reasoning_history: list[HistoryReasoning] = []
    for turn in canonical.history:
        if turn.role == "user":
            history.append(UserEntry(user_input_message=_user_message(turn, model.kiro_id)))
        else:
            if turn.thoughts:
                reasoning_history.append(_history_reasoning(len(history), turn))
            history.append(AssistantEntry(assistant_response_message=_assistant_message(turn)))

    history_names = [use.name for turn in canonical.history for use in turn.tool_uses]
    specs, removed_server, added_placeholder = build_tool_specs(req.tools or (), history_names, names)
    if removed_server:
        repairs.add("removed_server_tool")
    if added_placeholder:
        repairs.add("added_placeholder_tool")
    name_map = names.restore_map()
    if any(short != original for short, original in name_map.items()):
        repairs.add("shortened_tool_name")

    conv_id = conversation_id or session_conversation_id(req.metadata.user_id if req.metadata else None)
    conv_id = conv_id or uuid_factory()
    body = KiroRequest(
        conversation_state=ConversationState(
            conversation_id=conv_id,
            agent_continuation_id=uuid_factory(),
            current_message=CurrentMessage(
                user_input_message=_user_message(canonical.current, model.kiro_id, specs)
            ),
            history=tuple(history),
        ),
        profile_arn=profile_arn,
    )
    return KiroConversion(
        body=body,
        tool_name_map=MappingProxyType(name_map),
        thinking=mode is not None,
        stop_sequences=tuple(req.stop_sequences or ()),
        conversation_id=conv_id,
        repairs=repairs.names(),
        reasoning=ReasoningPlan(
            thinking=mode,
            effort=req.output_config.effort if req.output_config is not None else None,
            max_tokens=req.max_tokens,
            display=_thinking_display(req),
            tag_prefix=bool(prefix),
            system_text=system_text,
            history=tuple(reasoning_history),
        ),
    )


__all__ = [
    "EMPTY_ASSISTANT_TEXT",
    "IMAGES_TEXT",
    "SYSTEM_ACK",
    "TOOL_ONLY_ASSISTANT_TEXT",
    "TOOL_RESULTS_TEXT",
    "KiroConversion",
    "convert_anthropic_request",
    "session_conversation_id",
]
