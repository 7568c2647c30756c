"""`EstimatingTokenCounter`: a calibrated character-class estimator that needs no data file.

In the spirit of kiro.rs's estimator (kiro-protocol.md §13.1: Latin characters weigh less than
CJK and other scripts) but with one weight per *feature* fitted by least squares against the
legacy Claude BPE on the mixed corpus (`scripts/token_calibration.py --fit`, CALIBRATION.md).
The features follow how a byte-level BPE splits text:

- ASCII letters come in words (one token each, plus extra for long words and camelCase humps);
- digit and punctuation runs cost roughly one token per run plus a little per character;
- a lone space is free (it is glued to the next word), other whitespace runs cost about one;
- Han, kana, Hangul and CJK punctuation cost about one token per character; accented Latin,
  Cyrillic, other two-byte scripts, other BMP characters and astral characters (emoji) each
  have their own weight.

Every feature is counted with compiled regular expressions (C speed) and only the non-ASCII
part of the text is classified further. Weights are non-negative, so appending text never
lowers the estimate. This module does no I/O.
"""

from __future__ import annotations

import math
import operator
import re
from typing import NamedTuple

from kiroproto.tokens._base import CLAUDE_CALIBRATION_FACTOR, CalibratedCounter

LONG_WORD = 10
"""ASCII words longer than this many letters pay `long_word_excess` per extra letter."""

_WORD = re.compile(r"[A-Za-z]+")
_LONG_WORD = re.compile(rf"[A-Za-z]{{{LONG_WORD + 1},}}")
_HUMP = re.compile(r"[a-z][A-Z]")
_DIGITS = re.compile(r"[0-9]+")
_PUNCT = re.compile(r"[!-/:-@\[-`{-~]+")
# Every whitespace run except a single ASCII space (which BPE glues to the following word).
_SPACE = re.compile(r"\s{2,}|[^\S ]")
_NON_ASCII = re.compile(r"[^\x00-\x7f\s]+")
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_KANA = re.compile("[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HANGUL = re.compile("[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_CJK_PUNCT = re.compile("[\u3000-\u303f\uff00-\uff65\uffe0-\uffef]")
_LATIN_EXT = re.compile("[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")
_CYRILLIC = re.compile("[\u0400-\u052f]")
_TWO_BYTE = re.compile("[\u0080-\u07ff]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


class CharClassCounts(NamedTuple):
    """The estimator's features for one text (see the module docstring)."""

    words: int
    long_word_excess: int
    humps: int
    digit_runs: int
    digits: int
    punct_runs: int
    punct: int
    space_runs: int
    spaces: int
    latin_ext: int
    cyrillic: int
    other_2byte: int
    han: int
    kana: int
    hangul: int
    cjk_punct: int
    other_bmp: int
    astral: int


class EstimatorWeights(NamedTuple):
    """Legacy-Claude-BPE tokens per unit of each `CharClassCounts` feature (non-negative)."""

    words: float
    long_word_excess: float
    humps: float
    digit_runs: float
    digits: float
    punct_runs: float
    punct: float
    space_runs: float
    spaces: float
    latin_ext: float
    cyrillic: float
    other_2byte: float
    han: float
    kana: float
    hangul: float
    cjk_punct: float
    other_bmp: float
    astral: float


DEFAULT_WEIGHTS = EstimatorWeights(
    words=1.1,  # tokens per feature below
    long_word_excess=0.3,
    humps=1.0,
    digit_runs=0.92,
    digits=0.27,
    punct_runs=0.78,
    punct=0.1,
    space_runs=1.1,
    spaces=0.035,
    latin_ext=1.0,
    cyrillic=0.6,
    other_2byte=1.3,
    han=0.99,
    kana=1.1,
    hangul=1.5,
    cjk_punct=1.1,
    other_bmp=1.8,
    astral=3.0,
)
"""Fitted on the token corpus (CALIBRATION.md), rounded to two significant digits."""


def _total_len(matches: list[str]) -> int:
    return sum(map(len, matches))


def char_class_counts(text: str) -> CharClassCounts:
    """Count the estimator's features in `text`."""
    words = _WORD.findall(text)
    long_words = _LONG_WORD.findall(text)
    digit_runs = _DIGITS.findall(text)
    punct_runs = _PUNCT.findall(text)
    space_runs = _SPACE.findall(text)
    latin_ext = cyrillic = other_2byte = han = kana = hangul = cjk_punct = other_bmp = astral = 0
    if not text.isascii():
        rest = "".join(_NON_ASCII.findall(text))
        rest, han = _HAN.subn("", rest)
        rest, kana = _KANA.subn("", rest)
        rest, hangul = _HANGUL.subn("", rest)
        rest, cjk_punct = _CJK_PUNCT.subn("", rest)
        rest, latin_ext = _LATIN_EXT.subn("", rest)
        rest, cyrillic = _CYRILLIC.subn("", rest)
        other_2byte = len(_TWO_BYTE.findall(rest))
        astral = len(_ASTRAL.findall(rest))
        other_bmp = len(rest) - other_2byte - astral
    return CharClassCounts(
        words=len(words),
        long_word_excess=_total_len(long_words) - LONG_WORD * len(long_words),
        humps=len(_HUMP.findall(text)),
        digit_runs=len(digit_runs),
        digits=_total_len(digit_runs),
        punct_runs=len(punct_runs),
        punct=_total_len(punct_runs),
        space_runs=len(space_runs),
        spaces=_total_len(space_runs),
        latin_ext=latin_ext,
        cyrillic=cyrillic,
        other_2byte=other_2byte,
        han=han,
        kana=kana,
        hangul=hangul,
        cjk_punct=cjk_punct,
        other_bmp=other_bmp,
        astral=astral,
    )


def raw_estimate(counts: CharClassCounts, weights: EstimatorWeights = DEFAULT_WEIGHTS) -> float:
    """The weighted sum of `counts`, in legacy-BPE tokens (before the calibration factor)."""
    return math.fsum(map(operator.mul, counts, weights))


class EstimatingTokenCounter(CalibratedCounter):
    """Estimates Claude tokens from character classes; needs no data file.

    `count_text` = round(weighted feature sum x `factor`), and at least 1 for non-empty text.
    """

    __slots__ = ("_weights",)

    def __init__(
        self,
        weights: EstimatorWeights = DEFAULT_WEIGHTS,
        *,
        factor: float = CLAUDE_CALIBRATION_FACTOR,
    ) -> None:
        if any(w < 0 for w in weights):
            raise ValueError("estimator weights must be non-negative")
        super().__init__(factor)
        self._weights = weights

    @property
    def name(self) -> str:
        return "estimator"

    @property
    def weights(self) -> EstimatorWeights:
        return self._weights

    def count_raw(self, text: str) -> float:
        """The weighted character-class sum of `text`, without the calibration factor."""
        return raw_estimate(char_class_counts(text), self._weights) if text else 0.0
