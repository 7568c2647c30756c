"""StopSequenceMatcher: stop sequences found across any fragment boundary, minimal hold-back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiroproto.stream import StopSequenceMatcher


def run(sequences: list[str], fragments: list[str]) -> tuple[str, str | None]:
    matcher = StopSequenceMatcher(sequences)
    emitted = []
    for fragment in fragments:
        text, matched = matcher.feed(fragment)
        emitted.append(text)
        if matched is not None:
            return "".join(emitted), matched
    return "".join(emitted) + matcher.flush(), None


def reference(sequences: list[str], text: str) -> tuple[str, str | None]:
    """Where generation stops: the earliest end of any occurrence (ties: the earliest start)."""
    best = None
    for seq in sequences:
        if seq and (start := text.find(seq)) >= 0:
            key = (start + len(seq), start)
            if best is None or key < best[0]:
                best = (key, seq)
    if best is None:
        return text, None
    (_, start), seq = best
    return text[:start], seq


def test_holds_back_only_a_possible_prefix() -> None:
    matcher = StopSequenceMatcher(["STOP", "\n\nHuman:"])
    assert matcher.sequences == ("STOP", "\n\nHuman:")
    assert matcher.feed("Hello ST") == ("Hello ", None)
    assert matcher.feed("ART and S") == ("START and ", None)
    assert matcher.feed("TO") == ("", None)
    assert matcher.feed("P! more") == ("", "STOP")


def test_split_across_many_fragments() -> None:
    assert run(["\n\nHuman:"], ["a\n", "\n", "Hu", "man", ":", " rest"]) == ("a", "\n\nHuman:")


def test_flush_returns_the_held_tail() -> None:
    matcher = StopSequenceMatcher(["END"])
    assert matcher.feed("the EN") == ("the ", None)
    assert matcher.flush() == "EN"
    assert matcher.flush() == ""


def test_earliest_end_wins_then_earliest_start() -> None:
    assert run(["abcd", "c"], ["abcd"]) == ("ab", "c")
    assert run(["bc", "abc"], ["xabc"]) == ("x", "abc")
    assert run(["c", "abcd"], ["ab", "cd"]) == ("ab", "c")


@pytest.mark.parametrize("sequences", [[], [""], ["", ""]])
def test_no_sequences(sequences: list[str]) -> None:
    matcher = StopSequenceMatcher(sequences)
    assert matcher.sequences == ()
    assert matcher.feed("anything") == ("anything", None)


def test_duplicates_and_single_characters() -> None:
    matcher = StopSequenceMatcher(["x", "x"])
    assert matcher.sequences == ("x",)
    assert matcher.feed("abc") == ("abc", None)
    assert matcher.feed("dxe") == ("d", "x")


ALPHABET = st.text(alphabet="ab\nS", max_size=6)


@settings(deadline=None)
@given(st.lists(ALPHABET, max_size=3), st.text(alphabet="ab\nSx", max_size=40), st.data())
def test_any_split_matches_the_reference(sequences: list[str], text: str, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=10)))
    fragments = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert run(sequences, fragments) == reference(sequences, text)
