"""`BpeTokenCounter`: the legacy Claude BPE (`tokenizer.json`) times a calibration factor.

The tokenizer file is the one `anthropic==0.34.2` shipped (`anthropic/tokenizer.json`); it is
fetched at install time by `scripts/fetch_tokenizer.py` and never committed nor downloaded at
run time. This module only builds counters from a path, a string or bytes that the caller
hands it; `kiroproto.tokens.counter` knows the default location.

Long texts are cut into chunks at newlines that sit between two non-whitespace characters and
encoded as one batch (in parallel, without the GIL). Such a cut never changes the count: the
byte-level pre-tokenizer always makes a lone newline between two non-blank characters its own
pre-token, and BPE merges never cross pre-tokens.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from kiroproto.errors import KiroProtoError
from kiroproto.tokens._base import CLAUDE_CALIBRATION_FACTOR, CalibratedCounter

CHUNK_CHARS = 16_384
"""Texts longer than this are encoded as a parallel batch of chunks of about this size."""

_SAFE_CUT = re.compile(r"(?<=\S)\n(?=\S)")


class TokenizerLoadError(KiroProtoError):
    """The tokenizer file exists but is not a loadable `tokenizers` JSON file."""


class _Encoding(Protocol):
    @property
    def ids(self) -> list[int]: ...


class Encoder(Protocol):
    """The part of `tokenizers.Tokenizer` that the counter uses."""

    def encode(self, sequence: str, *, add_special_tokens: bool = ...) -> _Encoding: ...

    def encode_batch_fast(
        self, input: Sequence[str], *, add_special_tokens: bool = ...
    ) -> Sequence[_Encoding]: ...


def split_for_batch(text: str, chunk_chars: int = CHUNK_CHARS) -> list[str]:
    """Cut `text` at count-neutral newlines into pieces of at least `chunk_chars` (bar the last)."""
    pieces: list[str] = []
    start = 0
    while len(text) - start > chunk_chars:
        cut = _SAFE_CUT.search(text, start + chunk_chars)
        if cut is None:
            break
        pieces.append(text[start : cut.end()])
        start = cut.end()
    pieces.append(text[start:])
    return pieces


class BpeTokenCounter(CalibratedCounter):
    """Counts with a `tokenizers` BPE and multiplies by `factor` (rounded half up).

    Build it with `from_file`, `from_str` or `from_bytes`, or wrap an already loaded
    tokenizer. The tokenizer object is immutable and thread-safe, so one counter is shared.
    """

    __slots__ = ("_chunk_chars", "_tokenizer")

    def __init__(
        self,
        tokenizer: Encoder,
        *,
        factor: float = CLAUDE_CALIBRATION_FACTOR,
        chunk_chars: int = CHUNK_CHARS,
    ) -> None:
        super().__init__(factor)
        if chunk_chars < 1:
            raise ValueError("chunk_chars must be positive")
        self._tokenizer = tokenizer
        self._chunk_chars = chunk_chars

    @classmethod
    def from_str(cls, json_text: str, *, factor: float = CLAUDE_CALIBRATION_FACTOR) -> BpeTokenCounter:
        """Build from the text of a `tokenizer.json`."""
        from tokenizers import Tokenizer

        try:
            tokenizer = Tokenizer.from_str(json_text)
        except Exception as exc:  # tokenizers raises a bare Exception for any bad input
            raise TokenizerLoadError(f"not a tokenizers JSON file: {exc}") from exc
        return cls(tokenizer, factor=factor)

    @classmethod
    def from_bytes(cls, data: bytes, *, factor: float = CLAUDE_CALIBRATION_FACTOR) -> BpeTokenCounter:
        """Build from the bytes of a `tokenizer.json` (UTF-8)."""
        try:
            json_text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TokenizerLoadError(f"tokenizer JSON is not UTF-8: {exc}") from exc
        return cls.from_str(json_text, factor=factor)

    @classmethod
    def from_file(cls, path: Path | str, *, factor: float = CLAUDE_CALIBRATION_FACTOR) -> BpeTokenCounter:
        """Build from a `tokenizer.json` on disk (read once, here)."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise TokenizerLoadError(f"cannot read tokenizer file {path}: {exc}") from exc
        return cls.from_bytes(data, factor=factor)

    @property
    def name(self) -> str:
        return "bpe"

    def count_raw(self, text: str) -> int:
        """Legacy-BPE tokens in `text`, without the calibration factor."""
        if not text:
            return 0
        if len(text) <= self._chunk_chars:
            return len(self._tokenizer.encode(text, add_special_tokens=False).ids)
        pieces = split_for_batch(text, self._chunk_chars)
        encodings = self._tokenizer.encode_batch_fast(pieces, add_special_tokens=False)
        return sum(len(encoding.ids) for encoding in encodings)
