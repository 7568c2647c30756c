"""The default token counter and the module-level `count_text_tokens` shortcut.

`default_counter()` returns a `BpeTokenCounter` when the legacy Claude tokenizer file is
present, else an `EstimatingTokenCounter`. The documented place for the file is

    <sys.prefix>/share/kiro2api/claude-tokenizer.json

(the virtualenv's `share/` folder; `scripts/fetch_tokenizer.py`, run by `make venv`, puts it
there). No environment variable is read: a service that keeps the file elsewhere passes the
path explicitly. Nothing is loaded at import time; the first call loads the file once and an
`lru_cache` keeps the counter (call `default_counter.cache_clear()` to forget it).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from kiroproto.tokens._base import TokenCounter
from kiroproto.tokens.bpe import BpeTokenCounter
from kiroproto.tokens.estimator import EstimatingTokenCounter

TOKENIZER_FILENAME = "claude-tokenizer.json"


def default_tokenizer_path() -> Path:
    """Where `scripts/fetch_tokenizer.py` installs the tokenizer: `<sys.prefix>/share/kiro2api/`."""
    return Path(sys.prefix) / "share" / "kiro2api" / TOKENIZER_FILENAME


@functools.lru_cache(maxsize=8)
def default_counter(tokenizer_path: Path | str | None = None) -> TokenCounter:
    """The BPE counter if the tokenizer file exists (default: `default_tokenizer_path()`), else
    the estimator. Cached per argument.

    Raises `TokenizerLoadError` when the file exists but cannot be loaded (a broken install is
    reported, not silently replaced by the estimator): call this once at service start-up.
    """
    path = default_tokenizer_path() if tokenizer_path is None else Path(tokenizer_path)
    if path.is_file():
        return BpeTokenCounter.from_file(path)
    return EstimatingTokenCounter()


def count_text_tokens(text: str) -> int:
    """Tokens in `text` according to `default_counter()` (cheap after the first call)."""
    return default_counter().count_text(text)
