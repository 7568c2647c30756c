"""`ResponseAssembler`: the one state machine from Kiro events to canonical output events.

    KiroEvent --feed()--> [BlockStart | BlockDelta | BlockStop | MessageEnd | StreamFailure]

Shared by every client API and by streaming and non-streaming paths (the renderers and folds
consume its output). Rules, with the protocol sections they come from:

- Text (§6.1): a text block opens lazily on the first non-empty text and closes before any
  other block opens. Identical consecutive fragments are kept (§6.5: no de-duplication).
- Thinking (§7): with `options.thinking`, inline `<thinking>` is extracted (thinking.py);
  `reasoningContentEvent` text always becomes thinking. A native signature is sent as a
  `signature` delta right before the thinking block's stop; inline thinking has none.
- Tool calls (§6.2, §6.5): one `tool_use` block per toolUseId (repeated open frames merge);
  input fragments are forwarded verbatim as `input_json` deltas; the client's tool name is
  restored from `options.tool_name_map`. At the block's stop the concatenated input must be a
  JSON object: an empty concatenation becomes a `{}` delta; anything else that does not parse
  (upstream truncation) ends the response with a `StreamFailure` (`api_error`, 500) instead
  of handing the client a tool call with broken arguments. Fragments for an already closed
  tool call are dropped (a closed block cannot grow).
- Stop sequences (§6.3, the upstream has none): enforced on text (stop_sequences.py). On a
  match the text before it is emitted, blocks close, `MessageEnd(stop_sequence)` follows at
  once and everything the upstream sends afterwards is ignored.
- Stop reason (§6.3, kiro.rs precedence): `max_tokens` after a ContentLengthExceededException
  (the message ends normally at once, an open tool call is closed as it is); else `tool_use`
  if any tool call; else `end_turn`. Thinking-only special case: a response with a thinking
  block and nothing else gets a text block " " and `max_tokens`.
- Other upstream exceptions → `StreamFailure` (ThrottlingException: `overloaded_error`, 529;
  others `api_error`, 500). Emitted whether or not content was sent: the gateway checks
  `has_content` and fails over instead of rendering when it is False.
- Usage (§6.4): usage.py. Credits are the sum of meteringEvent usages.

After `MessageEnd` or `StreamFailure`, `done` is True and `feed()`/`finish()` return [].

Deliberately not here: JSON output, SSE, HTTP, retries (the gateway), client-API shapes (renderers).
"""

from __future__ import annotations

from typing import assert_never

import orjson

from kiroproto.stream.events import (
    BlockDelta,
    BlockKind,
    BlockStart,
    BlockStop,
    MessageEnd,
    OutputEvent,
    StopReason,
    StreamFailure,
    Usage,
)
from kiroproto.stream.kiro_events import (
    ContextUsage,
    Ignored,
    KiroEvent,
    Metering,
    ReasoningFragment,
    TextFragment,
    ToolUseFragment,
    UpstreamException,
)
from kiroproto.stream.options import StreamOptions
from kiroproto.stream.stop_sequences import StopSequenceMatcher
from kiroproto.stream.thinking import Piece, ThinkingExtractor
from kiroproto.stream.usage import input_tokens, output_tokens


class _Abort(Exception):
    """Internal: a StreamFailure was appended; unwind to feed()/finish()."""


class _ToolCall:
    __slots__ = ("index", "tool_use_id", "name", "parts", "closed")

    def __init__(self, index: int, tool_use_id: str, name: str) -> None:
        self.index = index
        self.tool_use_id = tool_use_id
        self.name = name
        self.parts: list[str] = []
        self.closed = False


def upstream_failure(exception_type: str, message: str) -> StreamFailure:
    """The client-facing failure for an in-stream upstream exception (CONTRACTS.md "Mid-stream")."""
    if exception_type.lower().startswith("throttling"):
        return StreamFailure("overloaded_error", message, 529)
    return StreamFailure("api_error", message, 500)


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(orjson.loads(text), dict)
    except orjson.JSONDecodeError:
        return False


class ResponseAssembler:
    """Feed it every `KiroEvent` in order, then call `finish()` at the end of the upstream body."""

    __slots__ = (
        "_options",
        "_thinking",
        "_stops",
        "_next_index",
        "_open_index",
        "_open_kind",
        "_open_tool",
        "_tools",
        "_seen_text",
        "_seen_thinking",
        "_seen_tool",
        "_percentage",
        "_credits",
        "_signature",
        "_emitted",
        "_done",
    )

    def __init__(self, options: StreamOptions) -> None:
        self._options = options
        self._thinking = ThinkingExtractor() if options.thinking else None
        matcher = StopSequenceMatcher(options.stop_sequences)
        self._stops = matcher if matcher.sequences else None
        self._next_index = 0
        self._open_index = -1
        self._open_kind: BlockKind | None = None
        self._open_tool: _ToolCall | None = None
        self._tools: dict[str, _ToolCall] = {}
        self._seen_text = False
        self._seen_thinking = False
        self._seen_tool = False
        self._percentage: float | None = None
        self._credits: float | None = None
        self._signature: str | None = None
        self._emitted: list[str] = []  # everything sent, for the output-token count
        self._done = False

    @property
    def has_content(self) -> bool:
        """True once any content block was started (the client has seen content)."""
        return self._next_index > 0

    @property
    def done(self) -> bool:
        """True after MessageEnd or StreamFailure: the upstream body need not be read further."""
        return self._done

    def feed(self, event: KiroEvent) -> list[OutputEvent]:
        if self._done:
            return []
        out: list[OutputEvent] = []
        try:
            match event:
                case TextFragment(text=text):
                    if text:
                        if self._thinking is None:
                            self._text(text, out)
                        else:
                            self._pieces(self._thinking.feed(text), out)
                case ToolUseFragment():
                    self._tool(event, out)
                case ReasoningFragment(text=text, signature=signature):
                    if text:
                        self._thinking_delta(text, out)
                    if signature:
                        self._signature = signature
                case ContextUsage(percentage=percentage):
                    self._percentage = percentage
                case Metering(usage=usage):
                    self._credits = usage if self._credits is None else self._credits + usage
                case UpstreamException(exception_type=exception_type, message=message):
                    if exception_type.lower().startswith("contentlengthexceeded"):
                        self._end(out, "max_tokens", None)
                    else:
                        self._fail(out, upstream_failure(exception_type, message))
                case Ignored():
                    pass
                case _:
                    assert_never(event)
        except _Abort:
            pass
        return out

    def finish(self) -> list[OutputEvent]:
        """The upstream body ended: flush held text, close blocks, emit MessageEnd."""
        if self._done:
            return []
        out: list[OutputEvent] = []
        try:
            self._end(out, None, None)
        except _Abort:
            pass
        return out

    # --- text and thinking ------------------------------------------------------------------

    def _pieces(self, pieces: list[Piece], out: list[OutputEvent]) -> None:
        for kind, text in pieces:
            if kind == "text":
                self._text(text, out)
            else:
                self._thinking_delta(text, out)
            if self._done:  # a stop sequence ended the message: drop the rest
                return

    def _text(self, text: str, out: list[OutputEvent]) -> None:
        if self._stops is None:
            self._text_delta(text, out)
            return
        text, matched = self._stops.feed(text)
        if text:
            self._text_delta(text, out)
        if matched is not None:
            self._end(out, "stop_sequence", matched)

    def _text_delta(self, text: str, out: list[OutputEvent]) -> None:
        if self._open_kind != "text":
            self._open("text", out)
        out.append(BlockDelta(self._open_index, "text", text))
        self._emitted.append(text)

    def _thinking_delta(self, text: str, out: list[OutputEvent]) -> None:
        if self._open_kind != "thinking":
            self._flush_stops(out)  # held-back text belongs before the thinking block
            self._open("thinking", out)
        out.append(BlockDelta(self._open_index, "thinking", text))
        self._emitted.append(text)

    def _flush_stops(self, out: list[OutputEvent]) -> None:
        if self._stops is not None and (held := self._stops.flush()):
            self._text_delta(held, out)

    # --- tool calls ---------------------------------------------------------------------------

    def _tool(self, event: ToolUseFragment, out: list[OutputEvent]) -> None:
        tool = self._tools.get(event.tool_use_id)
        if tool is None:
            if self._thinking is not None:
                self._pieces(self._thinking.boundary(), out)
                if self._done:
                    return
            self._flush_stops(out)
            name = self._options.tool_name_map.get(event.name, event.name)
            tool = _ToolCall(self._next_index, event.tool_use_id, name)
            self._tools[event.tool_use_id] = tool
            self._open("tool_use", out, tool)
        elif tool.closed:
            return
        if event.input:
            tool.parts.append(event.input)
            out.append(BlockDelta(tool.index, "input_json", event.input))
            self._emitted.append(event.input)
        if event.stop:
            self._close(out, validate=True)

    # --- blocks -------------------------------------------------------------------------------

    def _open(self, kind: BlockKind, out: list[OutputEvent], tool: _ToolCall | None = None) -> None:
        self._close(out, validate=True)
        index = self._next_index
        self._next_index = index + 1
        self._open_index = index
        self._open_kind = kind
        if kind == "text":
            self._seen_text = True
            out.append(BlockStart(index, "text"))
        elif kind == "thinking":
            self._seen_thinking = True
            out.append(BlockStart(index, "thinking"))
        else:
            assert tool is not None
            self._seen_tool = True
            self._open_tool = tool
            out.append(BlockStart(index, "tool_use", tool.tool_use_id, tool.name))

    def _close(self, out: list[OutputEvent], *, validate: bool) -> None:
        kind = self._open_kind
        if kind is None:
            return
        index = self._open_index
        self._open_kind = None
        if kind == "tool_use":
            tool = self._open_tool
            assert tool is not None
            tool.closed = True
            self._open_tool = None
            if not tool.parts:
                out.append(BlockDelta(index, "input_json", "{}"))
                self._emitted.append("{}")
            elif validate and not _is_json_object("".join(tool.parts)):
                self._fail(
                    out,
                    StreamFailure(
                        "api_error",
                        f"the upstream cut off the arguments of tool call {tool.tool_use_id} "
                        f"({tool.name}): they are not valid JSON",
                        500,
                    ),
                )
        elif kind == "thinking" and self._signature is not None:
            out.append(BlockDelta(index, "signature", self._signature))
            self._signature = None
        out.append(BlockStop(index))

    # --- the end ------------------------------------------------------------------------------

    def _end(self, out: list[OutputEvent], reason: StopReason | None, stop_sequence: str | None) -> None:
        if reason != "stop_sequence":
            if self._thinking is not None:
                self._pieces(self._thinking.finish(), out)
                if self._done:  # a stop sequence in the flushed text ended the message
                    return
            self._flush_stops(out)
        self._close(out, validate=reason != "max_tokens")
        if reason is None:
            if self._seen_thinking and not self._seen_text and not self._seen_tool:
                self._text_delta(" ", out)  # §6.3 thinking-only special case
                self._close(out, validate=True)
                reason = "max_tokens"
            else:
                reason = "tool_use" if self._seen_tool else "end_turn"
        options = self._options
        usage = Usage(
            input_tokens(self._percentage, options.context_window, options.input_tokens_estimate),
            output_tokens("".join(self._emitted)),
            self._credits,
        )
        out.append(MessageEnd(reason, stop_sequence, usage))
        self._done = True

    def _fail(self, out: list[OutputEvent], failure: StreamFailure) -> None:
        out.append(failure)
        self._done = True
        raise _Abort
