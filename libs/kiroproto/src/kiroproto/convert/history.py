"""The history canonicalizer: any sequence of turns -> a conversation Kiro accepts (§3.3, §4.4, §4.8).

Input: `Turn`s (one per Anthropic user/assistant message, already flattened). Output: history
turns plus the current user turn such that, together with the system pair placed in front by
the caller, the upstream rules of kiro-protocol.md §3.3 hold:

1. starts with a user turn and strictly alternates;
2. history ends with an assistant turn (the last user turn is `currentMessage`);
3. every tool use is answered in the immediately following user turn and every tool result
   answers a tool use of the immediately preceding assistant turn;
5. tool inputs are objects (guaranteed by the models).
(Rule 4, declared tool names, is `tools.py`'s job.)

Rules, in order; each one that fires is reported by name (for metrics):

- `dropped_empty_message`: a message with no text, image, tool use or tool result is dropped.
- `merged_user_turns` / `merged_assistant_turns`: consecutive same-role turns are merged
  (§4.4). Trailing user messages are merged into `currentMessage` too, so no assistant `OK`
  is ever inserted.
- `inserted_leading_user`: a conversation that starts with an assistant turn gets a user turn
  `LEADING_USER_TEXT` in front of it.
- `prefill_continue`: a trailing assistant turn (a prefill) stays in history and the current
  message is `CONTINUE_TEXT` (kiro2api-rs / AIClient-2-API style, §4.1 step 2); an empty
  conversation also gets `CONTINUE_TEXT` (`empty_conversation`).
- `dropped_duplicate_tool_use`: a tool use whose id was already used earlier is dropped.
- `dropped_unknown_tool_result` / `dropped_duplicate_tool_result`: a tool result that does not
  answer a tool use of the preceding assistant turn, or answers one twice, is dropped.
- `removed_orphan_tool_use`: a tool use left without a result in the next user turn is removed.

Turns emptied by the pairing rules stay in place (their content gets a placeholder when
serialised), so that repairing never breaks alternation.

This module knows nothing about Anthropic blocks or Kiro JSON; see `content.py` and
`anthropic_to_kiro.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from kiroproto.kiro.request import KiroImage, ToolResult, ToolUse

Role = Literal["user", "assistant"]

LEADING_USER_TEXT = "Hello."
CONTINUE_TEXT = "Continue"


@dataclass(frozen=True, slots=True)
class Thought:
    """A thinking block of an assistant message: its text, signature, and the `<thinking>` text
    it became in `Turn.texts` (the classic form, §4.3)."""

    text: str
    signature: str | None
    tag_text: str


@dataclass(frozen=True, slots=True)
class Turn:
    role: Role
    texts: tuple[str, ...] = ()
    images: tuple[KiroImage, ...] = ()
    tool_uses: tuple[ToolUse, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()
    thoughts: tuple[Thought, ...] = ()

    def is_empty(self) -> bool:
        return not (self.texts or self.images or self.tool_uses or self.tool_results)

    def merged(self, other: Turn) -> Turn:
        return Turn(
            role=self.role,
            texts=self.texts + other.texts,
            images=self.images + other.images,
            tool_uses=self.tool_uses + other.tool_uses,
            tool_results=self.tool_results + other.tool_results,
            thoughts=self.thoughts + other.thoughts,
        )


class Repairs:
    """An ordered set of the names of rules that fired."""

    def __init__(self) -> None:
        self._names: dict[str, None] = {}

    def add(self, name: str) -> None:
        self._names.setdefault(name, None)

    def names(self) -> tuple[str, ...]:
        return tuple(self._names)


@dataclass(frozen=True, slots=True)
class Canonical:
    history: tuple[Turn, ...]
    """Alternating, starting with a user turn, ending with an assistant turn (or empty)."""
    current: Turn
    """A user turn."""


def _alternate(turns: Sequence[Turn], repairs: Repairs) -> list[Turn]:
    out: list[Turn] = []
    for turn in turns:
        if turn.is_empty():
            repairs.add("dropped_empty_message")
        elif out and out[-1].role == turn.role:
            repairs.add(f"merged_{turn.role}_turns")
            out[-1] = out[-1].merged(turn)
        else:
            out.append(turn)
    if not out:
        repairs.add("empty_conversation")
        return [Turn(role="user", texts=(CONTINUE_TEXT,))]
    if out[0].role == "assistant":
        repairs.add("inserted_leading_user")
        out.insert(0, Turn(role="user", texts=(LEADING_USER_TEXT,)))
    if out[-1].role == "assistant":
        repairs.add("prefill_continue")
        out.append(Turn(role="user", texts=(CONTINUE_TEXT,)))
    return out


def _repair_pairing(turns: list[Turn], repairs: Repairs) -> list[Turn]:
    """§4.8, with adjacency: results must answer the immediately preceding assistant turn."""
    out = list(turns)
    used_ids: set[str] = set()
    issued: set[str] = set()  # ids issued by the assistant turn just before the current user turn
    for index, turn in enumerate(out):
        if turn.role == "assistant":
            uses: list[ToolUse] = []
            for use in turn.tool_uses:
                if use.tool_use_id in used_ids:
                    repairs.add("dropped_duplicate_tool_use")
                    continue
                used_ids.add(use.tool_use_id)
                uses.append(use)
            issued = {use.tool_use_id for use in uses}
            out[index] = replace(turn, tool_uses=tuple(uses))
            continue
        answered: set[str] = set()
        results: list[ToolResult] = []
        for result in turn.tool_results:
            if result.tool_use_id in answered:
                repairs.add("dropped_duplicate_tool_result")
            elif result.tool_use_id not in issued:
                repairs.add("dropped_unknown_tool_result")
            else:
                answered.add(result.tool_use_id)
                results.append(result)
        out[index] = replace(turn, tool_results=tuple(results))
        if index > 0:
            previous = out[index - 1]
            kept = tuple(use for use in previous.tool_uses if use.tool_use_id in answered)
            if len(kept) != len(previous.tool_uses):
                repairs.add("removed_orphan_tool_use")
                out[index - 1] = replace(previous, tool_uses=kept)
        issued = set()
    return out


def canonicalize(turns: Sequence[Turn], repairs: Repairs) -> Canonical:
    """Apply the rules above; `repairs` collects the names of those that fired."""
    alternating = _repair_pairing(_alternate(turns, repairs), repairs)
    return Canonical(history=tuple(alternating[:-1]), current=alternating[-1])


__all__ = ["CONTINUE_TEXT", "LEADING_USER_TEXT", "Canonical", "Repairs", "Turn", "canonicalize"]
