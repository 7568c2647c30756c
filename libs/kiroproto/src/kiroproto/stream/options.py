"""`StreamOptions`: the per-request facts the stream pipeline needs.

The gateway builds one per client request (after resolving the model and converting the
request) and hands the same object to the assembler, the renderer and the fold. Deliberately
not here: anything learnt from the upstream stream (that is the assembler's state).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamOptions:
    """Per-request stream settings.

    - `model`: the model name the client asked for, echoed in every response.
    - `message_id`: the response id (`msg_...` for Anthropic, `chatcmpl-...` for OpenAI).
    - `thinking`: the client asked for thinking: extract inline `<thinking>` tags (§7.2) and
      turn reasoningContentEvents into thinking; off means tags pass through as text and
      reasoning events are dropped.
    - `tool_name_map`: Kiro tool name → the client's original name (restored on every output).
    - `stop_sequences`: the client's stop sequences; Kiro has none, the assembler enforces them.
    - `input_tokens_estimate`: local count of the request, used until a contextUsageEvent arrives.
    - `context_window`: the model's window, to turn contextUsagePercentage into tokens (§6.4).
    - `created`: Unix seconds, for OpenAI's `created`.
    """

    model: str
    message_id: str
    thinking: bool = False
    tool_name_map: Mapping[str, str] = field(default_factory=dict)
    stop_sequences: tuple[str, ...] = ()
    input_tokens_estimate: int = 1
    context_window: int = 200_000
    created: int = 0
