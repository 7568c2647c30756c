"""Token counters: the estimator, the legacy-BPE counter, the default counter, calibration.

BPE tests need the tokenizer that `scripts/fetch_tokenizer.py` installs (`make venv` runs it);
they skip cleanly when it is absent. Everything else runs without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiroproto.errors import KiroProtoError
from kiroproto.tokens import (
    CLAUDE_CALIBRATION_FACTOR,
    DEFAULT_WEIGHTS,
    TOKENIZER_FILENAME,
    BpeTokenCounter,
    CharClassCounts,
    EstimatingTokenCounter,
    EstimatorWeights,
    TokenCounter,
    TokenizerLoadError,
    char_class_counts,
    count_text_tokens,
    default_counter,
    default_tokenizer_path,
)
from kiroproto.tokens._base import scale
from kiroproto.tokens.bpe import split_for_batch
from kiroproto.tokens.calibration import (
    CORPUS_CATEGORIES,
    CalibrationRow,
    corpus_sample,
    fit_weights,
    kiro_rs_estimate,
    measure,
    render_markdown,
    split_for_fit,
)
from kiroproto.tokens.estimator import raw_estimate

CORPUS = Path(__file__).parent / "data" / "token_corpus"
ESTIMATOR_TOLERANCE = 0.08
"""The estimator stays within 8 % of the calibrated BPE on every corpus category."""

# Estimator counts per corpus category (CALIBRATION.md); a change here must update that table.
ESTIMATOR_GOLDEN = {
    "English prose": 1027,
    "Python code": 1249,
    "JavaScript code": 1319,
    "Chinese": 1375,
    "Japanese": 1483,
    "JSON data": 1698,
    "Tool schemas": 888,
    "Cyrillic/Hangul/Greek/symbols": 1009,
}


def _samples() -> dict[str, str]:
    return {
        label: corpus_sample(name, (CORPUS / name).read_text(encoding="utf-8"))
        for name, label in CORPUS_CATEGORIES.items()
    }


@pytest.fixture(scope="module")
def bpe() -> BpeTokenCounter:
    path = default_tokenizer_path()
    if not path.is_file():
        pytest.skip(f"legacy Claude tokenizer not installed at {path} (run scripts/fetch_tokenizer.py)")
    return BpeTokenCounter.from_file(path)


@pytest.fixture(scope="module")
def samples() -> dict[str, str]:
    return _samples()


# --- estimator (no data file) ----------------------------------------------------------------


def test_corpus_has_every_category_with_a_few_kb() -> None:
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(CORPUS_CATEGORIES)
    for name in CORPUS_CATEGORIES:
        assert (CORPUS / name).stat().st_size >= 2000, name


def test_estimator_counts_on_corpus_are_the_recorded_ones(samples: dict[str, str]) -> None:
    estimator = EstimatingTokenCounter()
    assert {label: estimator.count_text(text) for label, text in samples.items()} == ESTIMATOR_GOLDEN


def test_estimator_is_deterministic_and_handles_edges() -> None:
    est = EstimatingTokenCounter()
    assert est.name == "estimator"
    assert est.factor == CLAUDE_CALIBRATION_FACTOR
    assert est.weights == DEFAULT_WEIGHTS
    assert isinstance(est, TokenCounter)
    assert est.count_text("") == 0
    assert est.count_text(" ") == 1  # non-empty text is at least one token
    text = "Hello, 世界! こんにちは 안녕 Привет Ωμέγα 🙂 ±∑ 12345 camelCaseWord internationalization"
    assert est.count_text(text) == est.count_text(text)
    assert "factor=1.15" in repr(est)


def test_char_class_counts_classifies_every_script() -> None:
    counts = char_class_counts(
        "ab  camelCase supercalifragilistic 123 4 !== \n\tÉté Жук ΩΦ 中文 かな 한 。 ∑ 🙂"
    )
    assert counts == CharClassCounts(
        words=4,  # ab, camelCase, supercalifragilistic, and the t of Été
        long_word_excess=len("supercalifragilistic") - 10,
        humps=1,
        digit_runs=2,
        digits=4,
        punct_runs=1,
        punct=3,
        space_runs=2,  # "  " and " \n\t"
        spaces=5,
        latin_ext=2,
        cyrillic=3,
        other_2byte=2,
        han=2,
        kana=2,
        hangul=1,
        cjk_punct=1,
        other_bmp=1,
        astral=1,
    )


def test_char_class_counts_words_detail() -> None:
    # "Été" is É (latin_ext) + "t" (a word) + "é" (latin_ext): BPE splits it the same way.
    assert char_class_counts("Été").words == 1
    assert char_class_counts("ab camelCase").words == 2
    assert char_class_counts("a b").space_runs == 0  # single spaces are free


def test_raw_estimate_is_the_weighted_sum() -> None:
    counts = char_class_counts("hello world")
    assert raw_estimate(counts) == pytest.approx(2 * DEFAULT_WEIGHTS.words)
    ones = EstimatorWeights(*([1.0] * len(EstimatorWeights._fields)))
    assert raw_estimate(counts, ones) == sum(counts)


def test_estimator_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        EstimatingTokenCounter(DEFAULT_WEIGHTS._replace(words=-1.0))
    with pytest.raises(ValueError, match="positive"):
        EstimatingTokenCounter(factor=0)


def test_scale_rounds_half_up() -> None:
    assert scale(0, 1.15) == 0
    assert scale(1, 1.15) == 1
    assert scale(10, 1.15) == 12  # 11.5 -> 12
    assert scale(100, 1.15) == 115


def test_estimator_tracks_kiro_rs_shape_but_counts_cjk_higher() -> None:
    est = EstimatingTokenCounter()
    latin = "The quick brown fox jumps over the lazy dog. " * 20
    han = "中文文本的字符数量测试" * 20
    assert est.count_text(han) > est.count_text(latin) * 0.9
    assert kiro_rs_estimate(latin) > 0


# --- default counter -------------------------------------------------------------------------


def test_default_tokenizer_path_is_under_sys_prefix() -> None:
    import sys

    path = default_tokenizer_path()
    assert path == Path(sys.prefix) / "share" / "kiro2api" / TOKENIZER_FILENAME


def test_default_counter_falls_back_to_estimator_when_file_absent(tmp_path: Path) -> None:
    counter = default_counter(tmp_path / "missing.json")
    assert isinstance(counter, EstimatingTokenCounter)
    assert default_counter(tmp_path / "missing.json") is counter  # cached per argument


def test_default_counter_reports_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(TokenizerLoadError, match="not a tokenizers JSON file") as info:
        default_counter(broken)
    assert isinstance(info.value, KiroProtoError)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(TokenizerLoadError, match="cannot read"):
        BpeTokenCounter.from_file(tmp_path / "nope.json")
    with pytest.raises(TokenizerLoadError, match="not UTF-8"):
        BpeTokenCounter.from_bytes(b"\xff\xfe\x00")


def test_count_text_tokens_uses_the_default_counter() -> None:
    text = "count me, please"
    assert count_text_tokens(text) == default_counter().count_text(text)
    assert count_text_tokens("") == 0


def test_split_for_batch_cuts_only_between_non_blank_characters() -> None:
    text = "alpha\nbeta\n\ngamma\n  delta\nepsilon"
    pieces = split_for_batch(text, chunk_chars=3)
    assert "".join(pieces) == text
    for piece in pieces[:-1]:
        assert piece.endswith("\n") and not piece.endswith("\n\n")
    assert split_for_batch("no newline at all", chunk_chars=3) == ["no newline at all"]
    assert split_for_batch("short", chunk_chars=100) == ["short"]


# --- BPE (needs the tokenizer file) ----------------------------------------------------------


def test_default_counter_is_bpe_when_installed(bpe: BpeTokenCounter) -> None:
    counter = default_counter()
    assert isinstance(counter, BpeTokenCounter)
    assert counter.name == "bpe"
    assert isinstance(counter, TokenCounter)


def test_bpe_known_counts(bpe: BpeTokenCounter) -> None:
    assert bpe.count_raw("") == 0
    assert bpe.count_text("") == 0
    assert bpe.count_raw("Hello, world") == 3  # 'Hello' ',' ' world'
    assert bpe.count_text("hello") == 1
    assert bpe.count_raw("<EOT>") == 1  # special tokens are matched, not expanded
    assert bpe.factor == CLAUDE_CALIBRATION_FACTOR
    assert repr(bpe) == "BpeTokenCounter(factor=1.15)"


def test_bpe_from_str_and_bytes_agree(bpe: BpeTokenCounter) -> None:
    data = default_tokenizer_path().read_bytes()
    text = "def f(x):\n    return x * 2  # 中文"
    from_bytes = BpeTokenCounter.from_bytes(data, factor=1.0)
    assert from_bytes.count_text(text) == bpe.count_raw(text)
    assert BpeTokenCounter.from_str(data.decode("utf-8")).count_text(text) == bpe.count_text(text)


def test_bpe_batched_count_equals_single_encode(bpe: BpeTokenCounter, samples: dict[str, str]) -> None:
    whole = "\n".join(samples.values()) * 3
    small_chunks = BpeTokenCounter(bpe._tokenizer, chunk_chars=300)  # many batch pieces
    single = BpeTokenCounter(bpe._tokenizer, chunk_chars=len(whole) + 1)
    assert len(split_for_batch(whole, 300)) > 50
    assert small_chunks.count_raw(whole) == single.count_raw(whole)


def test_bpe_rejects_bad_parameters(bpe: BpeTokenCounter) -> None:
    with pytest.raises(ValueError, match="factor"):
        BpeTokenCounter(bpe._tokenizer, factor=0)
    with pytest.raises(ValueError, match="chunk_chars"):
        BpeTokenCounter(bpe._tokenizer, chunk_chars=0)


@pytest.mark.parametrize("category", list(CORPUS_CATEGORIES.values()))
def test_estimator_within_tolerance_of_calibrated_bpe(
    bpe: BpeTokenCounter, samples: dict[str, str], category: str
) -> None:
    text = samples[category]
    reference = bpe.count_text(text)
    estimate = EstimatingTokenCounter().count_text(text)
    assert abs(estimate / reference - 1) <= ESTIMATOR_TOLERANCE, (category, estimate, reference)


# --- calibration helpers ---------------------------------------------------------------------


def test_measure_and_render(bpe: BpeTokenCounter, samples: dict[str, str]) -> None:
    rows = measure(samples, bpe, EstimatingTokenCounter())
    assert [r.category for r in rows] == [*CORPUS_CATEGORIES.values(), "overall"]
    overall = rows[-1]
    assert overall.bpe_raw == sum(r.bpe_raw for r in rows[:-1])
    assert abs(overall.ratio - 1) <= 0.03
    table = render_markdown(rows, CLAUDE_CALIBRATION_FACTOR)
    assert table.count("\n") == len(rows) + 2
    assert "| overall |" in table


def test_calibration_row_edge_cases() -> None:
    empty = CalibrationRow(category="x", chars=0, bpe_raw=0, bpe=0, estimate=0, kiro_rs=0.0)
    assert empty.ratio == 1.0
    assert "| x | 0 | 0 | 0.00 | 0 | 0 | 1.000 | 1.000 |" in render_markdown([empty], 1.15)


def test_corpus_sample_renders_tool_schemas_compactly() -> None:
    raw = json.dumps([{"name": "t", "description": "d", "input_schema": {"type": "object"}}], indent=2)
    assert corpus_sample("tool_schemas.json", raw) == 't\nd\n{"type":"object"}'
    assert corpus_sample("prose_en.txt", "as is") == "as is"


def test_kiro_rs_estimate_follows_section_13_1() -> None:
    assert kiro_rs_estimate("abcd") == pytest.approx(1 * 1.5)  # 4 units / 4, small-text x1.5
    assert kiro_rs_estimate("中") == pytest.approx(1 * 1.5)  # non-Latin weighs 4 units
    assert kiro_rs_estimate("a" * 600) == pytest.approx(150 * 1.3)
    assert kiro_rs_estimate("a" * 1000) == pytest.approx(250 * 1.25)
    assert kiro_rs_estimate("a" * 2000) == pytest.approx(500 * 1.2)
    assert kiro_rs_estimate("a" * 4000) == pytest.approx(1000)


def test_split_for_fit_groups_lines_and_cjk_sentences() -> None:
    text = "一二三。四五六。\nline two\nline three\n\n"
    pieces = split_for_fit(text, count=len, min_tokens=4)
    assert pieces == ["一二三。", "四五六。", "\nline two\n", "line three\n"]  # blank tail dropped


def test_fit_weights_recovers_a_known_linear_model(bpe: BpeTokenCounter, samples: dict[str, str]) -> None:
    pieces = {label: split_for_fit(text, bpe.count_raw) for label, text in samples.items()}
    fitted = fit_weights(pieces, bpe, fixed={"long_word_excess": 0.3, "latin_ext": 1.0}, sweeps=300)
    assert fitted.long_word_excess == 0.3
    assert fitted.latin_ext == 1.0
    assert all(w >= 0 for w in fitted)
    estimator = EstimatingTokenCounter(fitted)
    for text in samples.values():
        assert abs(estimator.count_text(text) / bpe.count_text(text) - 1) < 0.1


def test_fit_weights_with_nothing_to_fit(bpe: BpeTokenCounter) -> None:
    fitted = fit_weights({"empty": [""], "none": []}, bpe, sweeps=1)
    assert fitted == EstimatorWeights(*([0.0] * len(EstimatorWeights._fields)))
    # Features absent from the pieces (no CJK here) keep weight 0.
    only_words = fit_weights({"prose": ["hello world", "good morning to you"]}, bpe, sweeps=50)
    assert only_words.han == 0.0
    assert only_words.words > 0
