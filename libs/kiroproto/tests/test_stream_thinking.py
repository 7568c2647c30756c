"""ThinkingExtractor: inline <thinking> extraction (kiro-protocol.md §7.2), split-invariant."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiroproto.stream import Piece, ThinkingExtractor

FIXTURE_FRAGMENTS = [
    "<think",
    "ing>\nThe user greets me. Mentioning `</thinking>` in prose must not close the block.\n</thin",
    "king>\n",
    "\nHi there!",
]
FIXTURE_THINKING = "The user greets me. Mentioning `</thinking>` in prose must not close the block.\n"


def coalesce(pieces: list[Piece]) -> list[Piece]:
    out: list[Piece] = []
    for kind, text in pieces:
        assert text, "no empty pieces"
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + text)
        else:
            out.append((kind, text))
    return out


def run(fragments: list[str], end: str = "finish") -> list[Piece]:
    extractor = ThinkingExtractor()
    pieces: list[Piece] = []
    for fragment in fragments:
        pieces += extractor.feed(fragment)
    pieces += extractor.finish() if end == "finish" else extractor.boundary()
    return coalesce(pieces)


def test_fixture_fragment_by_fragment() -> None:
    extractor = ThinkingExtractor()
    phases = [extractor.phase]  # collected, then compared (mypy would narrow the property)
    assert extractor.feed(FIXTURE_FRAGMENTS[0]) == []
    assert extractor.feed(FIXTURE_FRAGMENTS[1]) == [("thinking", FIXTURE_THINKING)]
    phases.append(extractor.phase)
    assert extractor.feed(FIXTURE_FRAGMENTS[2]) == []  # "</thinking>\n": one newline is not enough yet
    assert extractor.feed(FIXTURE_FRAGMENTS[3]) == [("text", "Hi there!")]
    phases.append(extractor.phase)
    assert phases == ["before", "inside", "after"]
    assert extractor.finish() == []


@pytest.mark.parametrize(
    ("fragments", "expected"),
    [
        (["Hello", " world"], [("text", "Hello world")]),
        (["\n\n<thinking>\nplan</thinking>\n\nanswer"], [("thinking", "plan"), ("text", "answer")]),
        (["<thinking>plan\n</thinking>\n\n"], [("thinking", "plan\n")]),
        (["<thinking>\n</thinking>\n\nx"], [("text", "x")]),
        (["<thinking>`x`"], [("text", "<thinking>`x`")]),
        (['  <thinking>"quoted'], [("text", '  <thinking>"quoted')]),
        (["<thinking>"], [("text", "<thinking>")]),
        (["\n\n"], [("text", "\n\n")]),
        (["<thi", "x"], [("text", "<thix")]),
        (["Use <thinking>\nx</thinking>\n\n"], [("text", "Use <thinking>\nx</thinking>\n\n")]),
        (["<thinking>\na'</thinking>\n\nb"], [("thinking", "a'</thinking>\n\nb")]),
        (["<thinking>\na</thinking>\nb"], [("thinking", "a</thinking>\nb")]),
        (["<thinking>\na</thinking> \n\nb"], [("thinking", "a</thinking> \n\nb")]),
        (["<thinking>\nnever closed"], [("thinking", "never closed")]),
        (
            ["<thinking>\nx</thinking>\n\nlater <thinking>\ny"],
            [("thinking", "x"), ("text", "later <thinking>\ny")],
        ),
        (["<thinking>\nx</thinking>\n<"], [("thinking", "x</thinking>\n<")]),
        # end of stream: a closing tag followed only by whitespace still closes
        (["<thinking>\nx</thinking>"], [("thinking", "x")]),
        (["<thinking>\nx</thinking>\n"], [("thinking", "x")]),
        (["<thinking>\nx</thinking>  \t"], [("thinking", "x")]),
        (["<thinking>\nx`</thinking>"], [("thinking", "x`</thinking>")]),
        (["<thinking>\nx</thin"], [("thinking", "x</thin")]),
    ],
)
def test_examples(fragments: list[str], expected: list[Piece]) -> None:
    assert run(fragments) == expected
    assert run(list("".join(fragments))) == expected  # character by character


def test_tool_boundary_flushes_and_ends_thinking() -> None:
    extractor = ThinkingExtractor()
    assert extractor.feed("<thinking>\nlet me call a tool\n</thinking>") == [
        ("thinking", "let me call a tool\n")
    ]
    assert extractor.boundary() == []  # the held closing tag is accepted at the boundary
    assert extractor.phase == "after"
    assert extractor.feed("<thinking>") == [("text", "<thinking>")]


def test_tool_boundary_before_any_decision_flushes_text() -> None:
    extractor = ThinkingExtractor()
    assert extractor.feed("<thin") == []
    assert extractor.boundary() == [("text", "<thin")]
    assert extractor.feed("x") == [("text", "x")]


def test_feed_empty_fragment() -> None:
    extractor = ThinkingExtractor()
    assert extractor.feed("") == []
    extractor.feed("text")
    assert extractor.feed("") == []


def test_hold_back_is_bounded() -> None:
    extractor = ThinkingExtractor()
    extractor.feed("<thinking>\n")
    long_text = "reasoning " * 1000
    assert extractor.feed(long_text + "</thi") == [("thinking", long_text)]


TOKENS = st.sampled_from(
    [
        "<thinking>",
        "</thinking>",
        "<",
        "</",
        "think",
        "ing>",
        "\n",
        "\n\n",
        "`",
        "'",
        " ",
        "a",
        "é",
        "😀",
        "\t",
    ]
)


@settings(deadline=None)
@given(st.lists(TOKENS, max_size=25), st.data(), st.sampled_from(["finish", "boundary"]))
def test_any_split_gives_the_same_pieces(tokens: list[str], data: st.DataObject, end: str) -> None:
    text = "".join(tokens)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=10)))
    fragments = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    whole = run([text], end)
    assert run(fragments, end) == whole
    # Only tags and the whitespace around them disappear: the emitted text is a subsequence.
    emitted = "".join(piece for _, piece in whole)
    it = iter(text)
    assert all(ch in it for ch in emitted)


@settings(deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="<"), max_size=50), st.data())
def test_text_without_tags_passes_through(text: str, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=5)))
    fragments = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert run(fragments) == ([("text", text)] if text else [])
