"""Token counting: Claude-calibrated text and request token counts (sans-IO).

- `TokenCounter`: the protocol (`count_text(text) -> int`).
- `BpeTokenCounter`: the legacy Claude BPE (`tokenizer.json`, fetched at install time by
  `scripts/fetch_tokenizer.py`) times `CLAUDE_CALIBRATION_FACTOR`.
- `EstimatingTokenCounter`: a calibrated character-class estimator (no data file).
- `default_counter()` / `count_text_tokens()`: the BPE when its file is installed at
  `default_tokenizer_path()`, else the estimator; loaded lazily, once.
- `count_request_tokens()`: input tokens of a Messages request (`/v1/messages/count_tokens`,
  the `message_start` estimate), images included.

Method and measured ratios: `CALIBRATION.md` in this folder.
"""

from kiroproto.tokens._base import CLAUDE_CALIBRATION_FACTOR, TokenCounter
from kiroproto.tokens.bpe import BpeTokenCounter, TokenizerLoadError
from kiroproto.tokens.counter import (
    TOKENIZER_FILENAME,
    count_text_tokens,
    default_counter,
    default_tokenizer_path,
)
from kiroproto.tokens.estimator import (
    DEFAULT_WEIGHTS,
    CharClassCounts,
    EstimatingTokenCounter,
    EstimatorWeights,
    char_class_counts,
)
from kiroproto.tokens.images import (
    IMAGE_FALLBACK_TOKENS,
    MAX_IMAGE_TOKENS,
    base64_image_tokens,
    image_dimensions,
    image_dimensions_base64,
    image_tokens,
)
from kiroproto.tokens.request import DEFAULT_OVERHEADS, RequestOverheads, count_request_tokens

__all__ = [
    "CLAUDE_CALIBRATION_FACTOR",
    "DEFAULT_OVERHEADS",
    "DEFAULT_WEIGHTS",
    "IMAGE_FALLBACK_TOKENS",
    "MAX_IMAGE_TOKENS",
    "TOKENIZER_FILENAME",
    "BpeTokenCounter",
    "CharClassCounts",
    "EstimatingTokenCounter",
    "EstimatorWeights",
    "RequestOverheads",
    "TokenCounter",
    "TokenizerLoadError",
    "base64_image_tokens",
    "char_class_counts",
    "count_request_tokens",
    "count_text_tokens",
    "default_counter",
    "default_tokenizer_path",
    "image_dimensions",
    "image_dimensions_base64",
    "image_tokens",
]
