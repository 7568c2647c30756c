"""Inline `<thinking>` extraction (kiro-protocol.md §7.1 format 1, §7.2), as an explicit state object.

Feed text fragments in order; each call returns the (kind, text) pieces that are certain by now,
kind being "text" or "thinking". Tags split at any character across fragments never leak, and
how the text is split never changes the result (adjacent pieces of one kind concatenate to the
same strings). Rules:

- The opening tag counts only at the start of the response, after optional whitespace (newer
  models send `\\n\\n` first; that whitespace is dropped), and only if the character after it is
  not quote-like. One `\\n` right after it is dropped. Anything else first means the response
  has no thinking: all text passes through. (kiro.rs also accepts a tag after some text; a
  literal `<thinking>` later in an answer would then swallow the rest of it, so we don't.)
- Inside thinking, `</thinking>` closes only if the character before it is not quote-like and
  `\\n\\n` follows it immediately; both are dropped and the rest is text. The newline before the
  tag stays in the thinking. After the close everything is text, later tags included.
- Boundaries: at a tool call (`boundary()`) or the end of the stream (`finish()`), a closing tag
  at the very end of the held text followed by nothing but whitespace still closes; whatever is
  held is flushed (thinking stays thinking; text before a decision is text).
- Quote-like means backtick, `"`, `'` or backslash: the narrow set of AIClient-2-API and
  kiro2api-rs, not kiro.rs's wide punctuation set, which misfires on `done.</thinking>` (§18
  item 19). A mention such as `` `</thinking>` `` is therefore never a tag.

Hold-back is bounded: before the decision only leading whitespace plus at most 10 characters;
inside thinking only the tail from the last `<` when it can still become a closing tag (plus the
whitespace after a complete tag). Each feed scans the held tail plus the new fragment, so the
work is linear in the text.

Deliberately not here: block indices, stop sequences, native reasoning events (assembler.py).
"""

from __future__ import annotations

from typing import Literal

PieceKind = Literal["text", "thinking"]
Piece = tuple[PieceKind, str]
Phase = Literal["before", "inside", "after"]

OPEN_TAG = "<thinking>"
CLOSE_TAG = "</thinking>"
_CLOSE_LEN = len(CLOSE_TAG)
_CLOSE_FULL = CLOSE_TAG + "\n\n"
QUOTE_LIKE = frozenset("`\"'\\")


class ThinkingExtractor:
    """Splits assistant text into thinking and text pieces; see the module docstring."""

    __slots__ = ("_phase", "_held", "_prev")

    def __init__(self) -> None:
        self._phase: Phase = "before"
        self._held = ""  # text not yet emitted
        self._prev = "\n"  # inside thinking: the character before `_held` (the tag is "\n")

    @property
    def phase(self) -> Phase:
        return self._phase

    def feed(self, text: str) -> list[Piece]:
        if self._phase == "after":
            return [("text", text)] if text else []
        if self._phase == "inside":
            return self._inside(self._held + text)
        return self._before(self._held + text)

    def boundary(self) -> list[Piece]:
        """A tool call starts: flush what is held; afterwards everything is text."""
        pieces = self._flush()
        self._phase = "after"
        return pieces

    def finish(self) -> list[Piece]:
        """The stream ended: flush what is held."""
        return self.boundary()

    def _before(self, buf: str) -> list[Piece]:
        stripped = buf.lstrip()
        if stripped.startswith(OPEN_TAG):
            rest = stripped[len(OPEN_TAG) :]
            if not rest:  # the character after the tag decides
                self._held = buf
                return []
            if rest[0] not in QUOTE_LIKE:
                self._phase = "inside"
                self._held = ""
                self._prev = "\n"
                return self._inside(rest[1:] if rest[0] == "\n" else rest)
        elif not stripped or OPEN_TAG.startswith(stripped):
            self._held = buf  # whitespace only, or a tag being split
            return []
        self._phase = "after"
        self._held = ""
        return [("text", buf)]

    def _inside(self, buf: str) -> list[Piece]:
        pos = 0
        while (i := buf.find(CLOSE_TAG, pos)) >= 0:
            end = i + _CLOSE_LEN
            if buf.startswith("\n\n", end) and (buf[i - 1] if i else self._prev) not in QUOTE_LIKE:
                self._phase = "after"
                self._held = ""
                pieces: list[Piece] = []
                if i:
                    pieces.append(("thinking", buf[:i]))
                if len(buf) > end + 2:
                    pieces.append(("text", buf[end + 2 :]))
                return pieces
            pos = i + 1
        hold = _close_hold_start(buf)
        self._held = buf[hold:]
        if not hold:
            return []
        self._prev = buf[hold - 1]
        return [("thinking", buf[:hold])]

    def _flush(self) -> list[Piece]:
        held, self._held = self._held, ""
        if not held:
            return []
        if self._phase == "inside":
            closes = (
                held.startswith(CLOSE_TAG)
                and (len(held) == _CLOSE_LEN or held[_CLOSE_LEN:].isspace())
                and self._prev not in QUOTE_LIKE
            )
            return [] if closes else [("thinking", held)]
        return [("text", held)]


def _close_hold_start(buf: str) -> int:
    """Where the tail that may still become a closing tag starts (len(buf) when there is none)."""
    j = buf.rfind("<")
    if j < 0:
        return len(buf)
    tail = buf[j:]
    if _CLOSE_FULL.startswith(tail):  # a prefix of `</thinking>\n\n`
        return j
    if tail.startswith(CLOSE_TAG) and tail[_CLOSE_LEN:].isspace():  # closes at a boundary
        return j
    return len(buf)
