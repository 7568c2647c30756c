"""Usage numbers for a response (kiro-protocol.md §6.4).

- input tokens: `floor(contextUsagePercentage × context_window / 100)` when the upstream sent a
  contextUsageEvent, else the request's local estimate;
- output tokens: a count of everything emitted (text, thinking, tool-argument JSON), at least 1
  (Anthropic never reports 0 output tokens).

Deliberately not here: the tokenizer itself (`kiroproto.tokens`; its default counter loads
lazily on the first call, so a service should warm it up at start-up).
"""

from __future__ import annotations

import math

# The one place the stream side picks its token counter (fallback: `(len(text) + 3) // 4`).
from kiroproto.tokens import count_text_tokens


def output_tokens(emitted: str) -> int:
    """Output tokens for the concatenation of everything the response emitted (at least 1)."""
    return max(1, count_text_tokens(emitted))


def input_tokens(percentage: float | None, context_window: int, estimate: int) -> int:
    """Input tokens from the upstream's context-usage percentage, else the local estimate."""
    if percentage is None:
        return estimate
    return max(0, math.floor(percentage * context_window / 100))
