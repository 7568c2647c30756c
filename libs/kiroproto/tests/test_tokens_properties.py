"""Property tests: counting never raises, is deterministic and is monotone-ish under appending."""

from __future__ import annotations

import base64
import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiroproto.tokens import (
    BpeTokenCounter,
    EstimatingTokenCounter,
    TokenCounter,
    char_class_counts,
    default_tokenizer_path,
    image_dimensions,
    image_dimensions_base64,
)

ESTIMATOR = EstimatingTokenCounter()
# Appending text can let BPE merge across the old end (and NFKC can fold characters), so the
# BPE count may drop by a token or two; the estimator's weights are non-negative and its count
# may only drop by rounding noise, never at all in practice.
BPE_SLACK = 2
ESTIMATOR_SLACK = 1

texts = st.text(
    alphabet=st.characters(codec="utf-8"),  # any code point that can be UTF-8 encoded
    max_size=300,
)
mixed = st.lists(
    st.sampled_from(["word", " ", "\n", "  ", "camelCase", "123", "{}", "中文", "かな", "é", "🙂", "Ж"]),
    max_size=60,
).map("".join)


@functools.cache
def _load_bpe() -> BpeTokenCounter | None:
    path = default_tokenizer_path()
    return BpeTokenCounter.from_file(path) if path.is_file() else None


def _bpe() -> BpeTokenCounter:
    counter = _load_bpe()
    if counter is None:
        pytest.skip(f"legacy Claude tokenizer not installed at {default_tokenizer_path()}")
    return counter


def _check(counter: TokenCounter, prefix: str, suffix: str, slack: int) -> None:
    before = counter.count_text(prefix)
    after = counter.count_text(prefix + suffix)
    assert isinstance(after, int)
    assert after == counter.count_text(prefix + suffix)  # deterministic
    assert after >= before - slack
    assert (after == 0) == (prefix + suffix == "")


@settings(max_examples=300, deadline=None)
@given(prefix=st.one_of(texts, mixed), suffix=st.one_of(texts, mixed))
def test_estimator_never_raises_and_is_monotone(prefix: str, suffix: str) -> None:
    _check(ESTIMATOR, prefix, suffix, ESTIMATOR_SLACK)
    assert all(value >= 0 for value in char_class_counts(prefix + suffix))


@settings(max_examples=200, deadline=None)
@given(prefix=st.one_of(texts, mixed), suffix=st.one_of(texts, mixed))
def test_bpe_never_raises_and_is_monotone_ish(prefix: str, suffix: str) -> None:
    _check(_bpe(), prefix, suffix, BPE_SLACK)


@settings(max_examples=100, deadline=None)
@given(text=st.one_of(texts, mixed))
def test_bpe_batched_equals_single(text: str) -> None:
    bpe = _bpe()
    repeated = (text + "\nx") * 20
    chunked = BpeTokenCounter(bpe._tokenizer, chunk_chars=7)
    assert chunked.count_raw(repeated) == bpe.count_raw(repeated)


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=64),
    prefix=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP"]),
)
def test_image_parsers_never_raise(data: bytes, prefix: bytes) -> None:
    size = image_dimensions(prefix + data)
    assert size is None or (size[0] > 0 and size[1] > 0)
    assert image_dimensions_base64(base64.b64encode(prefix + data).decode()) == size


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80))
def test_base64_parser_never_raises_on_arbitrary_text(text: str) -> None:
    image_dimensions_base64(text)
