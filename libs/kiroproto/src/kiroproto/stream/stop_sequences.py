"""Client stop sequences, enforced on the assistant text (Kiro has none, §6.3).

`StopSequenceMatcher.feed(text)` returns the text that is certain not to be part of a stop
sequence, and the stop sequence once one has appeared. It holds back only the longest tail
that is a proper prefix of some stop sequence, so a sequence split across any fragment
boundary is found, and the result never depends on how the text was split.

The stop is where generation would have stopped: among all occurrences, the one that ends
first (ties: the one that starts first). The text before it is kept, the sequence itself and
everything after it are dropped, as with Anthropic's API.

Deliberately not here: thinking text and tool arguments (stop sequences apply to text only),
what happens after a match (the assembler ends the message).
"""

from __future__ import annotations

from collections.abc import Iterable


class StopSequenceMatcher:
    __slots__ = ("_sequences", "_prefixes", "_first_chars", "_max_hold", "_held")

    def __init__(self, sequences: Iterable[str]) -> None:
        self._sequences = tuple(dict.fromkeys(s for s in sequences if s))
        self._prefixes = frozenset(s[:k] for s in self._sequences for k in range(1, len(s)))
        self._first_chars = frozenset(s[0] for s in self._sequences)
        self._max_hold = max((len(s) - 1 for s in self._sequences), default=0)
        self._held = ""

    @property
    def sequences(self) -> tuple[str, ...]:
        return self._sequences

    def feed(self, text: str) -> tuple[str, str | None]:
        """(text safe to emit, the stop sequence found or None)."""
        buf = self._held + text
        best: str | None = None
        best_start = best_end = 0
        for seq in self._sequences:
            start = buf.find(seq)
            if start >= 0:
                end = start + len(seq)
                if best is None or end < best_end or (end == best_end and start < best_start):
                    best, best_start, best_end = seq, start, end
        if best is not None:
            self._held = ""
            return buf[:best_start], best
        hold = self._hold_length(buf)
        if hold:
            self._held = buf[-hold:]
            return buf[:-hold], None
        self._held = ""
        return buf, None

    def flush(self) -> str:
        """The held tail, once no more text can follow it (end of the text run)."""
        held, self._held = self._held, ""
        return held

    def _hold_length(self, buf: str) -> int:
        n = len(buf)
        first_chars = self._first_chars
        prefixes = self._prefixes
        for k in range(min(n, self._max_hold), 0, -1):
            if buf[n - k] in first_chars and buf[n - k :] in prefixes:
                return k
        return 0
