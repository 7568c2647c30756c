"""`Renderer`: what every client-API renderer is, so the gateway drives them alike.

A renderer turns the assembler's output events into the bytes sent to the client: `start()`
opens the response, `render(event)` writes one event, `render_all(events)` a batch of them.
Implementations: `AnthropicSSERenderer` (anthropic_sse.py), `OpenAIChunkRenderer`
(openai_chunks.py).

Deliberately not here: deciding anything about the response (assembler.py), HTTP.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from kiroproto.stream import events as ev


class Renderer(ABC):
    __slots__ = ()

    @abstractmethod
    def start(self) -> bytes:
        """The bytes that open the response, before any event."""

    @abstractmethod
    def render(self, event: ev.OutputEvent) -> bytes:
        """The bytes of one output event (may be empty)."""

    def render_all(self, events: Iterable[ev.OutputEvent]) -> bytes:
        return b"".join(self.render(event) for event in events)
