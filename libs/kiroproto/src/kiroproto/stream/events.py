"""The canonical output events of the stream pipeline (DESIGN.md "Stream pipeline").

`ResponseAssembler` turns Kiro events into these; every renderer (Anthropic SSE, OpenAI chunks)
and every fold (non-streaming responses) consumes them. They are API-neutral: block indices
follow Anthropic's content-block numbering, which the OpenAI renderer maps to its own
tool-call indices.

Deliberately not here: any JSON, any knowledge of a client API, any state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kiroproto.anthropic.response import StopReason as StopReason  # the stop reasons are Anthropic's

BlockKind = Literal["text", "thinking", "tool_use", "server_tool_use", "web_search_tool_result"]
DeltaKind = Literal["text", "thinking", "input_json", "signature"]


@dataclass(frozen=True, slots=True)
class BlockStart:
    """A content block opens. `tool_use_id` and `name` (the client's tool name) for tool_use and
    server_tool_use. A `web_search_tool_result` block is whole at its start: `tool_use_id` names
    its server_tool_use and `content` is the block's `content` as JSON text (the result list or
    the error object); no deltas follow it."""

    index: int
    kind: BlockKind
    tool_use_id: str | None = None
    name: str | None = None
    content: str | None = None


@dataclass(frozen=True, slots=True)
class BlockDelta:
    """A piece of the open block: text, thinking, a raw tool-argument JSON fragment, or the
    thinking block's signature (sent once, just before the thinking block's `BlockStop`)."""

    index: int
    kind: DeltaKind
    data: str


@dataclass(frozen=True, slots=True)
class BlockStop:
    index: int


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of the response (§6.4, CONTRACTS.md "Token counting") and the credits Kiro
    charged (None: no meteringEvent). `input_tokens` is the uncached input when Kiro's
    metadataEvent reported it; the cache fields are set only when Kiro sent them (never
    estimated)."""

    input_tokens: int
    output_tokens: int
    credits: float | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    web_search_requests: int = 0  # searches the gateway ran for this answer (Kiro's MCP endpoint)

    @property
    def prompt_tokens(self) -> int:
        """All input tokens, cached or not (OpenAI's `prompt_tokens`)."""
        return (
            self.input_tokens + (self.cache_read_input_tokens or 0) + (self.cache_creation_input_tokens or 0)
        )


@dataclass(frozen=True, slots=True)
class MessageEnd:
    """The response ended normally. Always the last event; every block is closed before it.
    `truncated`: the upstream body ended without its trailer after content (§19.1), so the
    stop reason is `max_tokens`; the gateway counts and logs it."""

    stop_reason: StopReason
    stop_sequence: str | None
    usage: Usage
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class StreamFailure:
    """The response failed (an upstream exception, or broken tool-call JSON). Always the last
    event; blocks may still be open. `error_type` is the Anthropic error type, `status_hint`
    the HTTP status a non-streaming answer would carry."""

    error_type: str
    message: str
    status_hint: int


OutputEvent = BlockStart | BlockDelta | BlockStop | MessageEnd | StreamFailure
