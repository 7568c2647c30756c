"""Images as Kiro can take them: pure, bytes in and typed results out (no I/O, no asyncio).

Kiro takes inline `jpeg`, `png`, `gif` or `webp` bytes (kiro-protocol.md §4.6). Following §19.7
(kiro.rs-admin) and Anthropic's own limit, an image goes upstream with a long side of at most
`MAX_LONG_EDGE` (1568 px) and at most `MAX_BASE64_CHARS` (400 000 characters of base64,
about 293 KiB of image):

- an image of a supported format that is within both limits and not animated passes unchanged
  (only its media type is corrected when the declared one is wrong);
- a larger one is scaled down (aspect ratio kept, Lanczos) and re-encoded: PNG stays PNG when
  it fits the budget, otherwise (and for photos) JPEG at falling quality, then smaller sizes;
- an animated GIF / WebP / APNG becomes its first frame; any other format Pillow can decode
  (BMP, TIFF, ICO, ...) is converted the same way;
- data that is not a decodable image, or one over `MAX_PIXELS` (a decompression bomb), is
  refused: `MediaRefused`, which the gateway turns into a 400.

`inspect_image` is the cheap check (header only) the gateway runs on the event loop for small
images; `fit_image` does the work and runs in a worker process (`gateway.offload`).
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import warnings
from dataclasses import dataclass
from typing import Literal

from PIL import Image, UnidentifiedImageError

from gateway.media.errors import MediaRefused

ImageFormat = Literal["jpeg", "png", "gif", "webp"]

MAX_LONG_EDGE = 1568
MAX_BASE64_CHARS = 400_000
MAX_IMAGE_BYTES = MAX_BASE64_CHARS // 4 * 3  # 300 000 bytes of image = 400 000 base64 characters
MAX_PIXELS = 50_000_000  # refuse larger images before decoding them (decompression bombs)

_PIL_FORMATS: dict[str, ImageFormat] = {"JPEG": "jpeg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}
_JPEG_QUALITIES = (85, 75, 65, 50)
_SHRINK_STEP = 0.75
_MIN_EDGE = 64


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header says: Pillow's format name, size, animation."""

    pil_format: str
    width: int
    height: int
    animated: bool

    @property
    def kiro_format(self) -> ImageFormat | None:
        return _PIL_FORMATS.get(self.pil_format)

    def fits(self, size: int) -> bool:
        """True when an image of `size` bytes with this header can be sent unchanged."""
        return (
            self.kiro_format is not None
            and not self.animated
            and max(self.width, self.height) <= MAX_LONG_EDGE
            and size <= MAX_IMAGE_BYTES
        )


@dataclass(frozen=True, slots=True)
class FittedImage:
    """An image ready for Kiro: its bytes, format and size, and what was done to it."""

    data: bytes
    format: ImageFormat
    width: int
    height: int
    original_width: int
    original_height: int
    changed: bool

    @property
    def media_type(self) -> str:
        return f"image/{self.format}"

    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")


def decode_base64(data: str, what: str = "image") -> bytes:
    """Standard base64 (a `data:...;base64,` prefix and whitespace accepted); MediaRefused if not."""
    if data.startswith("data:") and ";base64," in data:
        data = data.split(";base64,", 1)[1]
    try:
        return base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MediaRefused(f"{what} data is not valid base64") from exc


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise MediaRefused(f"image is larger than {MAX_PIXELS:,} pixels") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise MediaRefused("image data is not a decodable image: send JPEG, PNG, GIF or WebP bytes") from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise MediaRefused("image has no pixels")
    if width * height > MAX_PIXELS:
        raise MediaRefused(f"image is {width} x {height} pixels; at most {MAX_PIXELS:,} pixels are accepted")
    return image


def inspect_image(data: bytes) -> ImageInfo:
    """Format, size and animation from the header (cheap: the pixels are not decoded)."""
    image = _open(data)
    animated = bool(getattr(image, "is_animated", False))
    return ImageInfo(str(image.format), image.size[0], image.size[1], animated)


def _flatten(image: Image.Image, keep_alpha: bool) -> Image.Image:
    """RGB (or RGBA when `keep_alpha` and the image has transparency) for encoding."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        if keep_alpha:
            return rgba
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in ("RGB", "L"):
        return image
    return image.convert("RGB")


def _encode(image: Image.Image, fmt: ImageFormat, quality: int = 85) -> bytes:
    out = io.BytesIO()
    if fmt == "png":
        image.save(out, format="PNG", compress_level=6)
    else:
        image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def _scaled(image: Image.Image, long_edge: int) -> Image.Image:
    width, height = image.size
    if max(width, height) <= long_edge:
        return image
    factor = long_edge / max(width, height)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def encode_within_budget(
    image: Image.Image,
    *,
    prefer_png: bool,
    budget: int = MAX_IMAGE_BYTES,
    png_bytes_per_pixel: float | None = None,
) -> tuple[bytes, ImageFormat, Image.Image]:
    """Scale to `MAX_LONG_EDGE` and encode within `budget` bytes (smaller sizes if needed).

    PNG first when `prefer_png` (skipped when the source's own PNG density, if known, says it
    cannot fit), then JPEG at falling quality; when even that is far over the budget the image
    shrinks by the square root of the overshoot and the ladder starts again."""
    long_edge = min(MAX_LONG_EDGE, max(image.size))
    while True:
        frame = _scaled(image, long_edge)
        pixels = frame.size[0] * frame.size[1]
        if prefer_png and (png_bytes_per_pixel is None or png_bytes_per_pixel * pixels <= budget * 1.2):
            data = _encode(_flatten(frame, keep_alpha=True), "png")
            if len(data) <= budget:
                return data, "png", frame
        rgb = _flatten(frame, keep_alpha=False)
        for quality in _JPEG_QUALITIES:
            data = _encode(rgb, "jpeg", quality)
            if len(data) <= budget:
                return data, "jpeg", frame
            if len(data) > 2 * budget:
                break  # quality alone will not get there: shrink
        if long_edge <= _MIN_EDGE:
            return data, "jpeg", frame  # pragma: no cover - a 64 px JPEG is far below any budget
        factor = min(_SHRINK_STEP, 0.95 * math.sqrt(budget / len(data)))
        long_edge = max(_MIN_EDGE, int(long_edge * factor))


def fit_image(data: bytes) -> FittedImage:
    """The image as Kiro can take it (see the module docstring). Raises MediaRefused."""
    image = _open(data)
    info = ImageInfo(
        str(image.format), image.size[0], image.size[1], bool(getattr(image, "is_animated", False))
    )
    kiro_format = info.kiro_format
    if kiro_format is not None and info.fits(len(data)):
        return FittedImage(data, kiro_format, info.width, info.height, info.width, info.height, changed=False)
    try:
        image.seek(0)
        if image.format == "JPEG":
            image.draft("RGB", (MAX_LONG_EDGE, MAX_LONG_EDGE))  # decode at a reduced scale when possible
        image.load()
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt pixel data
        raise MediaRefused("image data is truncated or corrupt") from exc
    density = len(data) / (info.width * info.height) if info.pil_format == "PNG" else None
    encoded, fmt, frame = encode_within_budget(
        image, prefer_png=kiro_format != "jpeg", png_bytes_per_pixel=density
    )
    return FittedImage(encoded, fmt, frame.size[0], frame.size[1], info.width, info.height, changed=True)


def fit_image_base64(data: str) -> FittedImage:
    """`fit_image` for base64 text (the worker-process entry point: decoding happens there)."""
    return fit_image(decode_base64(data))


__all__ = [
    "MAX_BASE64_CHARS",
    "MAX_IMAGE_BYTES",
    "MAX_LONG_EDGE",
    "MAX_PIXELS",
    "FittedImage",
    "ImageFormat",
    "ImageInfo",
    "decode_base64",
    "encode_within_budget",
    "fit_image",
    "fit_image_base64",
    "inspect_image",
]
