"""The model's part of a web-search answer: results into the Kiro body, blocks renumbered.

- `with_search_context`: the search's text (`blocks.context_text`) is appended to the current
  user message of the Kiro body, after the user's own text: the model answers with the results
  in view (search first, then ask the model; README "Anthropic features").
- `SearchAssembler`: a `ResponseAssembler` whose blocks come after the two search blocks (every
  index + `SEARCH_BLOCKS`) and whose usage reports the searches run
  (`usage.server_tool_use.web_search_requests`). `has_content` stays the model's, so a Kiro
  failure before any model output still fails over (the search is not repeated).

Deliberately not here: the search itself (the gateway), the leading blocks (`blocks.py`).
"""

from __future__ import annotations

import dataclasses

from kiroproto.kiro.request import KiroRequest
from kiroproto.stream.assembler import ResponseAssembler
from kiroproto.stream.events import BlockDelta, BlockStart, BlockStop, MessageEnd, OutputEvent
from kiroproto.stream.kiro_events import KiroEvent
from kiroproto.stream.options import StreamOptions
from kiroproto.websearch.blocks import SEARCH_BLOCKS


def with_search_context(body: KiroRequest, text: str) -> KiroRequest:
    state = body.conversation_state
    message = state.current_message.user_input_message
    content = f"{message.content}\n\n{text}" if message.content.strip() else text
    current = state.current_message.model_copy(
        update={"user_input_message": message.model_copy(update={"content": content})}
    )
    return body.model_copy(
        update={"conversation_state": state.model_copy(update={"current_message": current})}
    )


def shift(event: OutputEvent, offset: int, searches: int) -> OutputEvent:
    """`event` placed after the search blocks."""
    match event:
        case BlockStart() | BlockDelta() | BlockStop():
            return dataclasses.replace(event, index=event.index + offset)
        case MessageEnd(usage=usage):
            return dataclasses.replace(event, usage=dataclasses.replace(usage, web_search_requests=searches))
        case _:
            return event


class SearchAssembler(ResponseAssembler):
    __slots__ = ("_searches",)

    def __init__(self, options: StreamOptions, searches: int) -> None:
        super().__init__(options)
        self._searches = searches

    def feed(self, event: KiroEvent) -> list[OutputEvent]:
        return [shift(e, SEARCH_BLOCKS, self._searches) for e in super().feed(event)]

    def finish(self) -> list[OutputEvent]:
        return [shift(e, SEARCH_BLOCKS, self._searches) for e in super().finish()]


__all__ = ["SearchAssembler", "shift", "with_search_context"]
