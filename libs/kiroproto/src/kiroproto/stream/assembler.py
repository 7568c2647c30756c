"""`ResponseAssembler`: the one state machine from Kiro events to canonical output events.

    KiroEvent --feed()--> [BlockStart | BlockDelta | BlockStop | MessageEnd | StreamFailure]

Shared by every client API and by streaming and non-streaming paths (the renderers and folds
consume its output). Rules, with the protocol sections they come from:

- Text (§6.1): a text block opens lazily on the first non-empty text and closes before any
  other block opens. Identical consecutive fragments are kept (§6.5: no de-duplication).
- Thinking (§7): with `options.thinking`, inline `<thinking>` is extracted (thinking.py);
  `reasoningContentEvent` text becomes thinking (dropped when the client did not ask for
  thinking: models that always think still answer without thinking blocks then). A native
  signature is sent as a `signature` delta right before the thinking block's stop; inline
  thinking has none.
- Tool calls (§6.2, §6.5, §19.1): one `tool_use` block per toolUseId (repeated open frames
  merge); a call is complete only once its `stop` fragment arrived, so its fragments are held
  and the whole block (start, the input fragments verbatim as `input_json` deltas, stop) is
  emitted at the stop frame; a call that never stops is dropped and the answer counts as cut.
  Opening a call closes the open text/thinking block (order is kept); the client's tool name is
  restored from `options.tool_name_map`. At the stop the concatenated input must be a JSON
  object: an empty concatenation becomes a `{}` delta; anything else that does not parse
  (upstream truncation) ends the response with a `StreamFailure` (`api_error`, 500) instead
  of handing the client a tool call with broken arguments. Fragments for an already closed
  tool call are dropped (a closed block cannot grow).
- Stop sequences (§6.3, the upstream has none): enforced on text (stop_sequences.py). On a
  match the text before it is emitted, blocks close, `MessageEnd(stop_sequence)` follows at
  once and everything the upstream sends afterwards is ignored.
- Completeness (§19.1, CONTRACTS.md "Errors"): an answer is complete once its trailer (a
  contextUsageEvent or a meteringEvent) arrived. At the end of a body without the trailer (or
  with a tool call that never stopped) the answer was cut: without content that is a
  `StreamFailure` (`api_error`, 502; the gateway fails over), with content a `MessageEnd`
  with `max_tokens` and `truncated=True`.
- Stop reason (§6.3, §19.1), first match: `max_tokens` after a ContentLengthExceededException
  (the message ends normally at once; a call without its stop is dropped); `max_tokens` for a
  cut answer; the metadataEvent's `stopReason` mapped by `KIRO_STOP_REASONS` (`END_TURN` with
  tool calls is `tool_use`, `TOOL_USE` without any is `end_turn`); `max_tokens` for a response
  with a thinking block and nothing else (which also gets a text block " "); `tool_use` if any
  tool call; else `end_turn`.
- Other upstream exceptions → `StreamFailure` (ThrottlingException: `overloaded_error`, 529;
  others `api_error`, 500). Emitted whether or not content was sent: the gateway checks
  `has_content` and fails over instead of rendering when it is False.
- Usage (§6.4, CONTRACTS.md "Token counting"): metadataEvent.tokenUsage where sent (input =
  uncached input, cache fields only as sent), else contextUsagePercentage x the window, else
  the local estimate (usage.py). Credits are the sum of meteringEvent usages.

After `MessageEnd` or `StreamFailure`, `done` is True and `feed()`/`finish()` return [].

Deliberately not here: JSON output, SSE, HTTP, retries (the gateway), client-API shapes (renderers).
"""

from __future__ import annotations

from typing import assert_never

import orjson

from kiroproto.stream import events as ev
from kiroproto.stream import kiro_events as kiro
from kiroproto.stream.options import StreamOptions
from kiroproto.stream.stop_sequences import StopSequenceMatcher
from kiroproto.stream.thinking import Piece, ThinkingExtractor
from kiroproto.stream.usage import input_tokens, output_tokens


class _Abort(Exception):
    """Internal: a StreamFailure was appended; unwind to feed()/finish()."""


KIRO_STOP_REASONS: dict[str, ev.StopReason] = {
    "END_TURN": "end_turn",
    "TOOL_USE": "tool_use",
    "MAX_TOKENS": "max_tokens",
    "MODEL_CONTEXT_WINDOW_EXCEEDED": "model_context_window_exceeded",
    "CONTENT_FILTERED": "refusal",
    "PAUSE_TURN": "pause_turn",
}
"""metadataEvent.stopReason → Anthropic stop reason (CONTRACTS.md "Errors"); others are ignored."""


class _ToolCall:
    __slots__ = ("tool_use_id", "name", "parts", "closed")

    def __init__(self, tool_use_id: str, name: str) -> None:
        self.tool_use_id = tool_use_id
        self.name = name
        self.parts: list[str] = []
        self.closed = False


def upstream_failure(exception_type: str, message: str) -> ev.StreamFailure:
    """The client-facing failure for an in-stream upstream exception (CONTRACTS.md "Mid-stream")."""
    if exception_type.lower().startswith("throttling"):
        return ev.StreamFailure("overloaded_error", message, 529)
    return ev.StreamFailure("api_error", message, 500)


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
        "_tools",
        "_seen_text",
        "_seen_thinking",
        "_seen_tool",
        "_percentage",
        "_credits",
        "_trailer",
        "_token_usage",
        "_kiro_stop",
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
        self._open_kind: ev.BlockKind | None = None
        self._tools: dict[str, _ToolCall] = {}
        self._seen_text = False
        self._seen_thinking = False
        self._seen_tool = False
        self._percentage: float | None = None
        self._credits: float | None = None
        self._trailer = False  # a contextUsageEvent or meteringEvent arrived (§19.1)
        self._token_usage: kiro.TokenUsage | None = None
        self._kiro_stop: ev.StopReason | None = None
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

    def feed(self, event: kiro.KiroEvent) -> list[ev.OutputEvent]:
        if self._done:
            return []
        out: list[ev.OutputEvent] = []
        try:
            match event:
                case kiro.TextFragment(text=text):
                    if text:
                        if self._thinking is None:
                            self._text(text, out)
                        else:
                            self._pieces(self._thinking.feed(text), out)
                case kiro.ToolUseFragment():
                    self._tool(event, out)
                case kiro.ReasoningFragment(text=text, signature=signature):
                    if self._options.thinking:  # else not asked for (CONTRACTS.md "Models")
                        if text:
                            self._thinking_delta(text, out)
                        if signature:
                            self._signature = signature
                case kiro.ContextUsage(percentage=percentage):
                    self._percentage = percentage
                    self._trailer = True
                case kiro.Metering(usage=usage):
                    self._credits = usage if self._credits is None else self._credits + usage
                    self._trailer = True
                case kiro.Metadata(token_usage=token_usage, stop_reason=stop_reason):
                    if token_usage is not None:
                        self._token_usage = token_usage
                    if stop_reason is not None:
                        self._kiro_stop = KIRO_STOP_REASONS.get(stop_reason.upper(), self._kiro_stop)
                case kiro.UpstreamException(exception_type=exception_type, message=message):
                    if exception_type.lower().startswith("contentlengthexceeded"):
                        self._end(out, "max_tokens", None)
                    else:
                        self._fail(out, upstream_failure(exception_type, message))
                case kiro.Ignored():
                    pass
                case _:
                    assert_never(event)
        except _Abort:
            pass
        return out

    def finish(self) -> list[ev.OutputEvent]:
        """The upstream body ended: flush held text, close blocks, emit MessageEnd."""
        if self._done:
            return []
        out: list[ev.OutputEvent] = []
        try:
            self._end(out, None, None)
        except _Abort:
            pass
        return out

    # --- text and thinking ------------------------------------------------------------------

    def _pieces(self, pieces: list[Piece], out: list[ev.OutputEvent]) -> None:
        for kind, text in pieces:
            if kind == "text":
                self._text(text, out)
            else:
                self._thinking_delta(text, out)
            if self._done:  # a stop sequence ended the message: drop the rest
                return

    def _text(self, text: str, out: list[ev.OutputEvent]) -> None:
        if self._stops is None:
            self._text_delta(text, out)
            return
        text, matched = self._stops.feed(text)
        if text:
            self._text_delta(text, out)
        if matched is not None:
            self._end(out, "stop_sequence", matched)

    def _text_delta(self, text: str, out: list[ev.OutputEvent]) -> None:
        if self._open_kind != "text":
            self._open("text", out)
        out.append(ev.BlockDelta(self._open_index, "text", text))
        self._emitted.append(text)

    def _thinking_delta(self, text: str, out: list[ev.OutputEvent]) -> None:
        if self._open_kind != "thinking":
            self._flush_stops(out)  # held-back text belongs before the thinking block
            self._open("thinking", out)
        out.append(ev.BlockDelta(self._open_index, "thinking", text))
        self._emitted.append(text)

    def _flush_stops(self, out: list[ev.OutputEvent]) -> None:
        if self._stops is not None and (held := self._stops.flush()):
            self._text_delta(held, out)

    # --- tool calls ---------------------------------------------------------------------------

    def _tool(self, event: kiro.ToolUseFragment, out: list[ev.OutputEvent]) -> None:
        tool = self._tools.get(event.tool_use_id)
        if tool is None:
            if self._thinking is not None:
                self._pieces(self._thinking.boundary(), out)
                if self._done:
                    return
            self._flush_stops(out)
            self._close(out)  # what came before the call stays before it
            tool = _ToolCall(event.tool_use_id, self._options.tool_name_map.get(event.name, event.name))
            self._tools[event.tool_use_id] = tool
        elif tool.closed:
            return
        if event.input:
            tool.parts.append(event.input)
        if event.stop:
            self._emit_tool(tool, out)

    def _emit_tool(self, tool: _ToolCall, out: list[ev.OutputEvent]) -> None:
        """The call's stop arrived: the whole tool_use block at once (§19.1)."""
        tool.closed = True
        arguments = "".join(tool.parts)
        if arguments and not _is_json_object(arguments):
            self._fail(
                out,
                ev.StreamFailure(
                    "api_error",
                    f"the upstream cut off the arguments of tool call {tool.tool_use_id} "
                    f"({tool.name}): they are not valid JSON",
                    500,
                ),
            )
        self._open("tool_use", out, tool)
        index = self._open_index
        for part in tool.parts or ["{}"]:
            out.append(ev.BlockDelta(index, "input_json", part))
            self._emitted.append(part)
        self._close(out)

    # --- blocks -------------------------------------------------------------------------------

    def _open(self, kind: ev.BlockKind, out: list[ev.OutputEvent], tool: _ToolCall | None = None) -> None:
        self._close(out)
        index = self._next_index
        self._next_index = index + 1
        self._open_index = index
        self._open_kind = kind
        if kind == "text":
            self._seen_text = True
            out.append(ev.BlockStart(index, "text"))
        elif kind == "thinking":
            self._seen_thinking = True
            out.append(ev.BlockStart(index, "thinking"))
        else:
            assert tool is not None
            self._seen_tool = True
            out.append(ev.BlockStart(index, "tool_use", tool.tool_use_id, tool.name))

    def _close(self, out: list[ev.OutputEvent]) -> None:
        kind = self._open_kind
        if kind is None:
            return
        index = self._open_index
        self._open_kind = None
        if kind == "thinking" and self._signature is not None:
            out.append(ev.BlockDelta(index, "signature", self._signature))
            self._signature = None
        out.append(ev.BlockStop(index))

    # --- the end ------------------------------------------------------------------------------

    def _end(
        self, out: list[ev.OutputEvent], reason: ev.StopReason | None, stop_sequence: str | None
    ) -> None:
        if reason != "stop_sequence":
            if self._thinking is not None:
                self._pieces(self._thinking.finish(), out)
                if self._done:  # a stop sequence in the flushed text ended the message
                    return
            self._flush_stops(out)
        self._close(out)
        truncated = False
        if reason is None:
            cut = not self._trailer or any(not tool.closed for tool in self._tools.values())
            if cut and not self.has_content:
                self._fail(
                    out, ev.StreamFailure("api_error", "the upstream answer ended without content", 502)
                )
            thinking_only = self._seen_thinking and not self._seen_text and not self._seen_tool
            if thinking_only:
                self._text_delta(" ", out)  # §6.3 thinking-only special case
                self._close(out)
            if cut:
                reason, truncated = "max_tokens", True
            elif self._kiro_stop is not None:
                reason = self._kiro_stop
                if reason == "end_turn" and self._seen_tool:
                    reason = "tool_use"
                elif reason == "tool_use" and not self._seen_tool:
                    reason = "end_turn"
            elif thinking_only:
                reason = "max_tokens"
            else:
                reason = "tool_use" if self._seen_tool else "end_turn"
        out.append(ev.MessageEnd(reason, stop_sequence, self._usage(), truncated))
        self._done = True

    def _usage(self) -> ev.Usage:
        options = self._options
        reported = self._token_usage or kiro.TokenUsage()
        percentage = self._percentage if self._percentage is not None else reported.context_percentage
        if reported.uncached_input is not None:
            inp = reported.uncached_input
        else:
            inp = input_tokens(percentage, options.context_window, options.input_tokens_estimate)
        out = reported.output if reported.output is not None else output_tokens("".join(self._emitted))
        return ev.Usage(inp, out, self._credits, reported.cache_read, reported.cache_write)

    def _fail(self, out: list[ev.OutputEvent], failure: ev.StreamFailure) -> None:
        out.append(failure)
        self._done = True
        raise _Abort
