"""Image token estimate: dimensions from the PNG / JPEG / GIF / WebP header, no image library.

Anthropic's published approximation (vision docs): an image costs about
`width x height / 750` tokens. An image whose long edge exceeds 1568 px is first scaled down
(aspect ratio kept), and the cost is capped at about 1600 tokens. When the dimensions cannot be
read (URL or file sources, unknown or truncated data) the caller uses
`IMAGE_FALLBACK_TOKENS`, the cap, because over-counting is the safer error.

Only the first few kilobytes of the base64 text are decoded unless the header is further in
(JPEG files with large EXIF / ICC segments), in which case the whole payload is decoded once.
"""

from __future__ import annotations

import binascii
import math
import struct

PIXELS_PER_TOKEN = 750
MAX_LONG_EDGE = 1568
MAX_IMAGE_TOKENS = 1600
IMAGE_FALLBACK_TOKENS = MAX_IMAGE_TOKENS

_PREFIX_CHARS = 4096
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GIF_SIGNATURES = (b"GIF87a", b"GIF89a")
_VP8_START_CODE = b"\x9d\x01\x2a"
# JPEG start-of-frame markers carry the size: C0..CF except DHT (C4), JPG (C8) and DAC (CC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM (01) and RST0..RST7 (D0..D7).
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def image_tokens(width: int, height: int) -> int:
    """Anthropic's estimate for an image of `width` x `height` pixels (1..`MAX_IMAGE_TOKENS`)."""
    if width <= 0 or height <= 0:
        return IMAGE_FALLBACK_TOKENS
    shrink = min(1.0, MAX_LONG_EDGE / max(width, height))
    pixels = (width * shrink) * (height * shrink)
    return max(1, min(MAX_IMAGE_TOKENS, math.ceil(pixels / PIXELS_PER_TOKEN)))


def _png(data: bytes) -> tuple[int, int] | None:
    # Signature, then the IHDR chunk: length (4), "IHDR", width (4, BE), height (4, BE).
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _gif(data: bytes) -> tuple[int, int] | None:
    # Logical screen descriptor right after the 6-byte signature: width, height (LE uint16).
    if len(data) < 10:
        return None
    width, height = struct.unpack("<HH", data[6:10])
    return width, height


def _webp(data: bytes) -> tuple[int, int] | None:
    # RIFF container: "RIFF" size "WEBP", then the first chunk's FourCC at 12.
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == _VP8_START_CODE:
        # Lossy key frame: 3-byte frame tag, start code, 14-bit width and height (LE).
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        # Lossless: signature byte 0x2f, then (width - 1) and (height - 1) as 14-bit fields.
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        # Extended: flags (4), then canvas (width - 1) and (height - 1) as 24-bit LE.
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def _jpeg(data: bytes) -> tuple[int, int] | None:
    # Walk the marker segments after SOI until a start-of-frame: FF xx [length (2, BE) body].
    pos = 2
    end = len(data)
    while pos + 1 < end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI or start of scan before any frame header
            return None
        if pos + 4 > end:
            return None
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF:
            if pos + 9 > end:
                return None
            # Body: precision (1), height (2, BE), width (2, BE).
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        if length < 2:
            return None
        pos += 2 + length
    return None


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the start of a PNG, JPEG, GIF or WebP file; None if unknown."""
    size: tuple[int, int] | None = None
    if data.startswith(_PNG_SIGNATURE):
        size = _png(data)
    elif data.startswith(b"\xff\xd8"):
        size = _jpeg(data)
    elif data[:6] in _GIF_SIGNATURES:
        size = _gif(data)
    elif data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        size = _webp(data)
    if size is None or size[0] <= 0 or size[1] <= 0:
        return None
    return size


def _b64decode(text: str) -> bytes:
    """Lenient base64: whitespace and stray characters ignored, a partial last quantum dropped."""
    compact = "".join(text.split())
    compact = compact[: len(compact) - len(compact) % 4]
    try:
        return binascii.a2b_base64(compact)
    except ValueError:  # binascii.Error, or non-ASCII characters
        return b""


def image_dimensions_base64(data: str) -> tuple[int, int] | None:
    """Like `image_dimensions` for base64 text (a `data:...;base64,` prefix is accepted)."""
    if data.startswith("data:"):
        data = data.partition(",")[2]
    size = image_dimensions(_b64decode(data[:_PREFIX_CHARS]))
    if size is None and len(data) > _PREFIX_CHARS:
        size = image_dimensions(_b64decode(data))
    return size


def base64_image_tokens(data: str) -> int:
    """Token estimate for a base64 image; `IMAGE_FALLBACK_TOKENS` when the size is unknown."""
    size = image_dimensions_base64(data)
    if size is None:
        return IMAGE_FALLBACK_TOKENS
    return image_tokens(*size)
