"""Typed Kiro stream events: one decoded event-stream `Message` → one `KiroEvent` (§5.6).

| message                                   | event                                          |
|-------------------------------------------|------------------------------------------------|
| `assistantResponseEvent` `{content}`      | `TextFragment(text)`                           |
| `toolUseEvent` `{name,toolUseId,input?,stop?}` | `ToolUseFragment(...)` (`input` a JSON-text fragment) |
| `contextUsageEvent` `{contextUsagePercentage}` | `ContextUsage(percentage)`                |
| `meteringEvent` `{unit,usage}`            | `Metering(usage, unit)`                        |
| `reasoningContentEvent` `{text?,signature?}` | `ReasoningFragment(text, signature)`        |
| `metadataEvent` `{tokenUsage?,stopReason?}` | `Metadata(TokenUsage?, stop_reason)` (§19.1) |
| `invalidStateEvent` `{reason,message}`    | `UpstreamException("invalidStateEvent", ...)`  |
| `:message-type` exception / error         | `UpstreamException(type, message, reason)`     |
| anything else (metadata, citations, ...)  | `Ignored(event_type)`                          |

Event payloads are parsed with orjson; a payload of a known event type that is not a JSON
object, or whose fields have the wrong JSON types, raises `DecodeError`. Exception and error
payloads are read leniently (§5.3: error messages carry a text payload): JSON `{message,
reason}` when it parses, the raw text otherwise. Unknown event types are not parsed at all.

Deliberately not here: ordering, merging, or any decision about the response (assembler.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from kiroproto.errors import DecodeError
from kiroproto.eventstream import Message


@dataclass(frozen=True, slots=True)
class TextFragment:
    text: str  # `content`


@dataclass(frozen=True, slots=True)
class ToolUseFragment:
    """One toolUseEvent: an open frame (`input` None), an input fragment, or the stop frame."""

    tool_use_id: str
    name: str
    input: str | None
    stop: bool


@dataclass(frozen=True, slots=True)
class ContextUsage:
    percentage: float  # of the model's context window, 0-100


@dataclass(frozen=True, slots=True)
class Metering:
    usage: float
    unit: str  # "credit" when Kiro names none


@dataclass(frozen=True, slots=True)
class ReasoningFragment:
    text: str
    signature: str | None


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """`metadataEvent.tokenUsage` (§19.1): each count is None when Kiro did not send it."""

    uncached_input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    context_percentage: float | None = None


@dataclass(frozen=True, slots=True)
class Metadata:
    """A `metadataEvent`: the real token usage and Kiro's stop reason (`END_TURN`, ...), as sent."""

    token_usage: TokenUsage | None
    stop_reason: str | None


@dataclass(frozen=True, slots=True)
class UpstreamException:
    exception_type: str
    message: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class Ignored:
    event_type: str


KiroEvent = (
    TextFragment
    | ToolUseFragment
    | ContextUsage
    | Metering
    | ReasoningFragment
    | Metadata
    | UpstreamException
    | Ignored
)


def parse_kiro_message(msg: Message) -> KiroEvent:
    """Classify and parse one upstream message. Raises `DecodeError` on a malformed event payload."""
    message_type = msg.message_type
    if message_type == "event":
        event_type = msg.event_type or ""
        if event_type == "assistantResponseEvent":
            return TextFragment(_opt_str(_object(msg.payload, event_type), "content", event_type) or "")
        if event_type == "toolUseEvent":
            return _tool_use(_object(msg.payload, event_type))
        if event_type == "contextUsageEvent":
            obj = _object(msg.payload, event_type)
            return ContextUsage(_number(obj, "contextUsagePercentage", event_type))
        if event_type == "meteringEvent":
            obj = _object(msg.payload, event_type)
            return Metering(_number(obj, "usage", event_type), _opt_str(obj, "unit", event_type) or "credit")
        if event_type == "reasoningContentEvent":
            obj = _object(msg.payload, event_type)
            return ReasoningFragment(
                _opt_str(obj, "text", event_type) or "", _opt_str(obj, "signature", event_type) or None
            )
        if event_type == "metadataEvent":
            return _metadata(_object(msg.payload, event_type))
        if event_type == "invalidStateEvent":
            message, reason = _lenient_error_payload(msg.payload)
            return UpstreamException(event_type, message or "invalid state", reason)
        return Ignored(event_type)
    if message_type == "exception":
        message, reason = _lenient_error_payload(msg.payload)
        exception_type = msg.exception_type or "UnknownException"
        return UpstreamException(exception_type, message or exception_type, reason)
    if message_type == "error":
        message, reason = _lenient_error_payload(msg.payload)
        code = msg.header_str(":error-code") or "error"
        return UpstreamException(code, msg.header_str(":error-message") or message or code, reason)
    return Ignored(msg.event_type or message_type)


def _tool_use(obj: dict[str, Any]) -> ToolUseFragment:
    tool_use_id = _opt_str(obj, "toolUseId", "toolUseEvent")
    if not tool_use_id:
        raise DecodeError("toolUseEvent without a toolUseId")
    raw_input = obj.get("input")
    fragment: str | None
    if raw_input is None or isinstance(raw_input, str):
        fragment = raw_input
    elif isinstance(raw_input, dict):  # a whole argument object instead of a text fragment
        fragment = orjson.dumps(raw_input).decode()
    else:
        raise DecodeError("toolUseEvent field 'input' is neither a string nor an object")
    stop = obj.get("stop", False)
    if not isinstance(stop, bool):
        raise DecodeError("toolUseEvent field 'stop' is not a boolean")
    return ToolUseFragment(tool_use_id, _opt_str(obj, "name", "toolUseEvent") or "", fragment, stop)


def _metadata(obj: dict[str, Any]) -> Metadata:
    event_type = "metadataEvent"
    raw_usage = obj.get("tokenUsage")
    usage: TokenUsage | None = None
    if isinstance(raw_usage, dict):
        percentage = raw_usage.get("contextUsagePercentage")
        usage = TokenUsage(
            uncached_input=_opt_count(raw_usage, "uncachedInputTokens"),
            output=_opt_count(raw_usage, "outputTokens"),
            cache_read=_opt_count(raw_usage, "cacheReadInputTokens"),
            cache_write=_opt_count(raw_usage, "cacheWriteInputTokens"),
            context_percentage=None
            if percentage is None
            else _number(raw_usage, "contextUsagePercentage", event_type),
        )
    elif raw_usage is not None:
        raise DecodeError("metadataEvent field 'tokenUsage' is not an object")
    return Metadata(usage, _opt_str(obj, "stopReason", event_type) or None)


def _opt_count(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return int(value)
    raise DecodeError(f"metadataEvent tokenUsage field {key!r} is not a non-negative number")


def _object(payload: bytes, event_type: str) -> dict[str, Any]:
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"{event_type} payload is not valid JSON") from exc
    if not isinstance(obj, dict):
        raise DecodeError(f"{event_type} payload is not a JSON object")
    return obj


def _opt_str(obj: dict[str, Any], key: str, event_type: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise DecodeError(f"{event_type} field {key!r} is not a string")


def _number(obj: dict[str, Any], key: str, event_type: str) -> float:
    value = obj.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise DecodeError(f"{event_type} field {key!r} is not a number")


def _lenient_error_payload(payload: bytes) -> tuple[str, str | None]:
    """(message, reason) from an exception/error payload: JSON when it parses, else its text."""
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload.decode("utf-8", errors="replace").strip(), None
    if not isinstance(obj, dict):
        return payload.decode("utf-8", errors="replace").strip(), None
    message = obj.get("message", obj.get("Message"))
    reason = obj.get("reason")
    return (
        message if isinstance(message, str) else "",
        reason if isinstance(reason, str) and reason else None,
    )
