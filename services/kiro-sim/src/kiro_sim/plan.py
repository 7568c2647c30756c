"""From (request summary, script, seeded RNG) to the exact event-stream frames of one answer.

Frame order follows kiro-protocol.md §5.7: text as many short `assistantResponseEvent`s (the
optional inline `<thinking>` block first, its tags split across frames on purpose), then each
tool call as open / empty-input / fragments / stop, then the optional scripted `metadataEvent`
(§19.1), `contextUsageEvent` and `meteringEvent` (each switchable: no trailer = a cut answer).
Payloads are compact JSON with the upstream's key order (§5.5, fixtures).
A scripted exception replaces the trailer after `exception_after` content frames; a scripted
cut keeps only the first `cut_after` frames (plus, optionally, a few bytes of the next one).

Pure: no I/O and no pydantic on the output path; everything random comes from the request's
`random.Random(seed)`, so the same seed gives the same bytes.

Deliberately not here: writing bytes, delays, chunking (`stream.py`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from random import Random

import orjson

from kiro_sim.errors import EXCEPTION_PAYLOADS
from kiro_sim.reasoning import signature_of
from kiro_sim.script import MetadataScript, Script
from kiro_sim.tokens import tool_use_id
from kiro_sim.validate import ChatSummary
from kiroproto.eventstream import encode_event, encode_exception

THINKING_MARKERS = ("<thinking_mode>enabled</thinking_mode>", "<thinking_mode>adaptive</thinking_mode>")
OPEN_TAG = "<thinking>\n"
CLOSE_TAG = "\n</thinking>\n\n"
ECHO_CHARS = 200
TOOL_FRAGMENT_MAX = 12
_LOREM = (
    "The quick brown fox jumps over the lazy dog while the simulator streams a long answer "
    "so that benchmarks and reassembly tests have plenty of fragments to chew on. "
)


class ScriptError(ValueError):
    """A script that cannot be rendered for this request (e.g. a tool call with no tool)."""


@dataclass(frozen=True, slots=True)
class Plan:
    frames: list[bytes]  # every frame to write, in order
    cut: bool  # end without finishing the HTTP body
    partial: bytes  # bytes of one more frame written just before a cut
    credits: float  # credits charged (0 unless the metering frame is written)
    has_exception: bool


def thinking_requested(summary: ChatSummary) -> bool:
    return any(m in summary.first_user_text or m in summary.current_text for m in THINKING_MARKERS)


_VERSION = re.compile(r"-(\d+)(?:\.(\d+))?$")


def context_window(model_id: str, default: int, large: int, windows: dict[str, int] | None = None) -> int:
    """The account's own window for the model (set through the control API), else `large` for
    Claude 4.6 and newer (Kiro moved them to 1M on 2026-03-24, reference §19.4), else `default`."""
    if windows and model_id in windows:
        return windows[model_id]
    match = _VERSION.search(model_id)
    if match is None:
        return default
    version = (int(match.group(1)), int(match.group(2) or 0))
    return large if version >= (4, 6) else default


def default_answer(user_text: str, tool_result_texts: tuple[str, ...]) -> str:
    if user_text.strip():
        return "Echo: " + user_text[:ECHO_CHARS]
    if tool_result_texts:
        return "Tool result received: " + tool_result_texts[0][:ECHO_CHARS]
    return "Echo: (empty)"


def lorem(length: int) -> str:
    reps = length // len(_LOREM) + 1
    return (_LOREM * reps)[:length]


def default_thinking(user_text: str) -> str:
    return f"The user wrote {len(user_text)} characters. I will answer deterministically."


def split_points(rng: Random, length: int, max_size: int, forced: tuple[int, ...] = ()) -> list[int]:
    """Cut positions 0 < p < length: random piece sizes 1..max_size plus the forced ones."""
    points = set(p for p in forced if 0 < p < length)
    pos = rng.randint(1, max_size)
    while pos < length:
        points.add(pos)
        pos += rng.randint(1, max_size)
    return sorted(points)


def _pieces(text: str, points: list[int]) -> list[str]:
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def build_plan(
    summary: ChatSummary,
    script: Script,
    rng: Random,
    *,
    user_text: str,
    input_tokens: int,
    window: int,
    fragment_max: int,
) -> Plan:
    frames: list[bytes] = []

    # Text (with the optional inline thinking block).
    if script.text is not None:
        answer = script.text
    elif script.text_length is not None:
        answer = lorem(script.text_length)
    elif script.tool_calls:
        answer = ""
    else:
        answer = default_answer(user_text, summary.tool_result_texts)
    thinking = script.thinking
    if thinking is None and (thinking_requested(summary) or summary.native_thinking):
        thinking = default_thinking(user_text)
    forced: tuple[int, ...] = ()
    text = answer
    frag = script.fragment_max or fragment_max
    if thinking and summary.native_thinking:  # reasoning as data: reasoningContentEvents (§19.5)
        for piece in _pieces(thinking, split_points(rng, len(thinking), frag)):
            frames.append(encode_event("reasoningContentEvent", orjson.dumps({"text": piece})))
        signature = {"signature": signature_of(thinking)}
        frames.append(encode_event("reasoningContentEvent", orjson.dumps(signature)))
    elif thinking:
        text = OPEN_TAG + thinking + CLOSE_TAG + answer
        close_at = len(OPEN_TAG) + len(thinking)
        # "<think|ing>", "</thin|king>", "</thinking>\n|\n": tags always straddle two frames.
        forced = (6, close_at + 7, close_at + len(CLOSE_TAG) - 1)
    for piece in _pieces(text, split_points(rng, len(text), frag, forced)) if text else ():
        frames.append(encode_event("assistantResponseEvent", orjson.dumps({"content": piece})))

    # Tool calls.
    for call in script.tool_calls:
        name = call.name or (summary.tool_names[0] if summary.tool_names else None)
        if name is None:
            raise ScriptError("tool call without a name and the request declares no tools")
        use_id = call.id or tool_use_id(rng)
        frames.append(encode_event("toolUseEvent", orjson.dumps({"name": name, "toolUseId": use_id})))
        args = json.dumps(call.input, ensure_ascii=False)
        pieces = ["", *_pieces(args, split_points(rng, len(args), TOOL_FRAGMENT_MAX))]
        for piece in pieces:
            payload = orjson.dumps({"input": piece, "name": name, "toolUseId": use_id})
            frames.append(encode_event("toolUseEvent", payload))
        if call.stop:
            stop = orjson.dumps({"name": name, "stop": True, "toolUseId": use_id})
            frames.append(encode_event("toolUseEvent", stop))

    # Exception or trailer.
    credits = 0.0
    has_exception = script.exception is not None
    if script.exception is not None:
        payload_obj = dict(EXCEPTION_PAYLOADS.get(script.exception, {"message": script.exception}))
        if script.exception_message is not None:
            payload_obj["message"] = script.exception_message
        if script.exception_reason is not None:
            payload_obj["reason"] = script.exception_reason
        at = min(script.exception_after, len(frames))
        frames = [*frames[:at], encode_exception(script.exception, orjson.dumps(payload_obj))]
    else:
        if script.metadata is not None:
            frames.append(
                encode_event("metadataEvent", metadata_payload(script.metadata, input_tokens, text))
            )
        if script.context_usage:
            pct = script.context_usage_percentage
            if pct is None:
                pct = round(input_tokens / window * 100, 6)
            frames.append(encode_event("contextUsageEvent", orjson.dumps({"contextUsagePercentage": pct})))
        if script.metering:
            credits = (
                script.credits if script.credits is not None else default_credits(input_tokens, len(text))
            )
            metering = {"unit": "credit", "unitPlural": "credits", "usage": credits}
            frames.append(encode_event("meteringEvent", orjson.dumps(metering)))

    cut = script.cut_after is not None
    partial = b""
    if script.cut_after is not None and script.cut_after < len(frames):
        following = frames[script.cut_after]
        partial = following[: min(script.cut_partial_bytes, len(following) - 1)]
        frames = frames[: script.cut_after]
        credits = 0.0  # the metering frame, always last, is not sent
    return Plan(frames, cut, partial, credits, has_exception)


def metadata_payload(meta: MetadataScript, input_tokens: int, text: str) -> bytes:
    """`{"tokenUsage": {...}, "stopReason": ..., "stopDetails": {...}}` in the upstream's key order."""
    payload: dict[str, object] = {}
    if meta.token_usage:
        uncached = meta.uncached_input_tokens if meta.uncached_input_tokens is not None else input_tokens
        output = meta.output_tokens if meta.output_tokens is not None else max(1, len(text) // 4)
        cached = (meta.cache_read_input_tokens or 0) + (meta.cache_write_input_tokens or 0)
        usage: dict[str, int] = {"uncachedInputTokens": uncached, "outputTokens": output}
        usage["totalTokens"] = uncached + output + cached
        if meta.cache_read_input_tokens is not None:
            usage["cacheReadInputTokens"] = meta.cache_read_input_tokens
        if meta.cache_write_input_tokens is not None:
            usage["cacheWriteInputTokens"] = meta.cache_write_input_tokens
        payload["tokenUsage"] = usage
    if meta.stop_reason is not None:
        payload["stopReason"] = meta.stop_reason
    if meta.refusal is not None:
        payload["stopDetails"] = {"refusal": meta.refusal}
    return orjson.dumps(payload)


def default_credits(input_tokens: int, output_chars: int) -> float:
    """A small deterministic charge: about 0.01 credit plus a little per token."""
    return round(0.01 + input_tokens * 0.000001 + output_chars * 0.00001, 6)
