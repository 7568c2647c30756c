"""The `TokenCounter` interface, the Claude calibration factor and `CalibratedCounter`, the base
of every counter here.

No Claude 3+ tokenizer is public (CONTRACTS.md "Token counting", kiro-protocol.md §13). Every
counter here reports *legacy-Claude-BPE-equivalent* tokens multiplied by
`CLAUDE_CALIBRATION_FACTOR`; `CALIBRATION.md` next to this module explains the factor and
holds the measured table.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Protocol, runtime_checkable

CLAUDE_CALIBRATION_FACTOR = 1.15
"""Claude 3+ tokens per legacy Claude BPE token (a documented judgement, see CALIBRATION.md).

Newer Claude tokenizers split text more finely than the legacy one (2023) that the anthropic
SDK shipped up to 0.34; the difference is largest for code and CJK. 1.15 is a deliberately
modest single factor: over-counting slightly is the safer error for context-window decisions.
"""


@runtime_checkable
class TokenCounter(Protocol):
    """Counts tokens in a text. Implementations are immutable and safe to share."""

    @property
    def name(self) -> str:
        """A short label for logs and metrics (`"bpe"`, `"estimator"`)."""
        ...

    def count_text(self, text: str) -> int:
        """Tokens in `text`: 0 for the empty string, at least 1 otherwise; deterministic."""
        ...


def scale(raw: float, factor: float) -> int:
    """`raw * factor` rounded half up, as an int (monotone in `raw`)."""
    return math.floor(raw * factor + 0.5)


class CalibratedCounter(ABC):
    """A counter of legacy-BPE-equivalent tokens scaled by the calibration `factor`.

    `count_text` = `count_raw` x `factor`, rounded half up, and at least 1 for non-empty text.
    """

    __slots__ = ("_factor",)

    def __init__(self, factor: float) -> None:
        if factor <= 0:
            raise ValueError("calibration factor must be positive")
        self._factor = factor

    @property
    def factor(self) -> float:
        return self._factor

    @abstractmethod
    def count_raw(self, text: str) -> float:
        """Legacy-BPE tokens in `text`, without the calibration factor (0 for the empty string)."""

    def count_text(self, text: str) -> int:
        if not text:
            return 0
        return max(1, scale(self.count_raw(text), self._factor))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(factor={self._factor})"
