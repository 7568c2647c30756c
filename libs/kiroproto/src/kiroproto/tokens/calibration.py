"""Calibration of the estimator against the legacy Claude BPE (pure functions, no I/O).

`scripts/token_calibration.py` reads the corpus (`libs/kiroproto/tests/data/token_corpus/`),
calls `measure` and prints `render_markdown`; with `--fit` it also calls `fit_weights` and
prints the fitted `EstimatorWeights`. The tests use the same functions to hold the estimator
to its stated tolerance. The measured table lives in `CALIBRATION.md`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence

from kiroproto.tokens._base import TokenCounter
from kiroproto.tokens.bpe import BpeTokenCounter
from kiroproto.tokens.estimator import CharClassCounts, EstimatorWeights, char_class_counts
from kiroproto.tokens.request import _json

CORPUS_CATEGORIES: Mapping[str, str] = {
    "prose_en.txt": "English prose",
    "code_python.txt": "Python code",
    "code_js.txt": "JavaScript code",
    "cjk_zh.txt": "Chinese",
    "cjk_ja.txt": "Japanese",
    "json_data.json": "JSON data",
    "tool_schemas.json": "Tool schemas",
    "other_scripts.txt": "Cyrillic/Hangul/Greek/symbols",
}
"""Corpus file name -> category label, in table order."""

_LATIN_RANGES = ((0x0000, 0x024F), (0x1E00, 0x1EFF), (0x2C60, 0x2C7F), (0xA720, 0xA7FF), (0xAB30, 0xAB6F))
_SENTENCE_END = re.compile(r"(?<=[。！？])")


def corpus_sample(filename: str, raw: str) -> str:
    """The text measured for a corpus file: tool schemas are rendered as the request walker
    counts them (name, description, compact JSON schema); other files are used as they are."""
    if filename != "tool_schemas.json":
        return raw
    parts: list[str] = []
    for tool in json.loads(raw):
        parts += [tool["name"], tool["description"], _json(tool["input_schema"])]
    return "\n".join(parts)


def kiro_rs_estimate(text: str) -> float:
    """kiro.rs's estimate (kiro-protocol.md §13.1), for comparison only."""
    units = sum(1 if any(lo <= ord(c) <= hi for lo, hi in _LATIN_RANGES) else 4 for c in text)
    tokens = units / 4
    for limit, correction in ((100, 1.5), (200, 1.3), (300, 1.25), (800, 1.2)):
        if tokens < limit:
            return tokens * correction
    return tokens


@dataclasses.dataclass(frozen=True, slots=True)
class CalibrationRow:
    """One category (or the overall total) of the calibration table."""

    category: str
    chars: int
    bpe_raw: int
    """Legacy Claude BPE tokens (no factor)."""
    bpe: int
    """Calibrated BPE: `bpe_raw` x the calibration factor (the reference)."""
    estimate: int
    """`EstimatingTokenCounter` (already includes the same factor)."""
    kiro_rs: float

    @property
    def ratio(self) -> float:
        """estimate / calibrated BPE."""
        return self.estimate / self.bpe if self.bpe else 1.0


def measure(
    samples: Mapping[str, str], bpe: BpeTokenCounter, estimator: TokenCounter
) -> list[CalibrationRow]:
    """One row per category (`samples`: category -> text) and a final "overall" row."""
    rows = [
        CalibrationRow(
            category=category,
            chars=len(text),
            bpe_raw=bpe.count_raw(text),
            bpe=bpe.count_text(text),
            estimate=estimator.count_text(text),
            kiro_rs=kiro_rs_estimate(text),
        )
        for category, text in samples.items()
    ]
    total = CalibrationRow(
        category="overall",
        chars=sum(r.chars for r in rows),
        bpe_raw=sum(r.bpe_raw for r in rows),
        bpe=sum(r.bpe for r in rows),
        estimate=sum(r.estimate for r in rows),
        kiro_rs=sum(r.kiro_rs for r in rows),
    )
    return [*rows, total]


def render_markdown(rows: Sequence[CalibrationRow], factor: float) -> str:
    """The calibration table as GitHub markdown."""
    lines = [
        f"| category | chars | legacy BPE | chars/token | BPE x {factor} | estimator "
        "| estimator / BPE x f | kiro.rs §13.1 / BPE x f |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        per_token = r.chars / r.bpe_raw if r.bpe_raw else 0.0
        kiro = r.kiro_rs / r.bpe if r.bpe else 1.0
        lines.append(
            f"| {r.category} | {r.chars} | {r.bpe_raw} | {per_token:.2f} | {r.bpe} | {r.estimate} "
            f"| {r.ratio:.3f} | {kiro:.3f} |"
        )
    return "\n".join(lines) + "\n"


def split_for_fit(text: str, count: Callable[[str], int], min_tokens: int = 40) -> list[str]:
    """Cut `text` at line (and CJK sentence) ends into pieces of at least `min_tokens`."""
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        for part in _SENTENCE_END.split(line):
            current += part
            if count(current) >= min_tokens:
                pieces.append(current)
                current = ""
    if current.strip():
        pieces.append(current)
    return pieces


def _nnls(rows: Sequence[Sequence[float]], targets: Sequence[float], sweeps: int) -> list[float]:
    """Non-negative least squares by cyclic coordinate descent on the normal equations."""
    n = len(rows[0])
    gram = [[math.fsum(r[i] * r[j] for r in rows) for j in range(n)] for i in range(n)]
    rhs = [math.fsum(r[i] * t for r, t in zip(rows, targets, strict=True)) for i in range(n)]
    x = [0.0] * n
    for _ in range(sweeps):
        for i in range(n):
            if gram[i][i] == 0.0:
                continue
            residual = rhs[i] - math.fsum(gram[i][j] * x[j] for j in range(n) if j != i)
            x[i] = max(0.0, residual / gram[i][i])
    return x


def fit_weights(
    pieces: Mapping[str, Sequence[str]],
    bpe: BpeTokenCounter,
    *,
    fixed: Mapping[str, float] | None = None,
    sweeps: int = 3000,
) -> EstimatorWeights:
    """Fit estimator weights (legacy-BPE units) to `pieces` (category -> texts).

    Minimises the squared *relative* error of every piece, each category weighted equally,
    with non-negative weights; features in `fixed` keep the given weight.
    """
    fixed = dict(fixed or {})
    names = CharClassCounts._fields
    free = [i for i, name in enumerate(names) if name not in fixed]
    design: list[list[float]] = []
    targets: list[float] = []
    for texts in pieces.values():
        per_category = 1.0 / math.sqrt(len(texts)) if texts else 0.0
        for text in texts:
            truth = bpe.count_raw(text)
            if truth == 0:
                continue
            counts = char_class_counts(text)
            known = math.fsum(
                fixed[name] * value for name, value in zip(names, counts, strict=True) if name in fixed
            )
            scale_row = per_category / truth
            design.append([counts[i] * scale_row for i in free])
            targets.append((truth - known) * scale_row)
    solved = _nnls(design, targets, sweeps) if design else [0.0] * len(free)
    values = dict(fixed)
    values.update({names[i]: w for i, w in zip(free, solved, strict=True)})
    return EstimatorWeights(**values)
