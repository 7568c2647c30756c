"""Request conversion: OpenAI -> Anthropic -> Kiro (kiro-protocol.md §4).

There is one path into Kiro: `convert_openai_request` turns a Chat Completions request into a
`MessagesRequest`, and `convert_anthropic_request` turns that into a `KiroConversion` (the Kiro
body plus the tool-name map, thinking flag and stop sequences the response side needs).
The response direction lives in `kiroproto.stream`.
"""

from __future__ import annotations

from kiroproto.convert.anthropic_to_kiro import KiroConversion, convert_anthropic_request
from kiroproto.convert.openai_to_anthropic import convert_openai_request

__all__ = ["KiroConversion", "convert_anthropic_request", "convert_openai_request"]
