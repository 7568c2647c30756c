"""Anthropic image blocks -> Kiro images (kiro-protocol.md §4.3, §4.6).

Kiro takes only inline base64 bytes in `jpeg`, `png`, `gif` or `webp`. A base64 source with one
of those media types becomes a `KiroImage`; a URL or Files-API source, or any other media type,
is a `ConversionError` (400) with a message saying what to send instead (kiro.rs silently drops
unknown media types; we prefer telling the client).

This module does not decide where an image goes (message or lifted tool-result image).
"""

from __future__ import annotations

from typing import get_args

from kiroproto.anthropic.request import Base64Source, FileSource, ImageBlock, URLSource
from kiroproto.errors import ConversionError
from kiroproto.kiro.request import ImageFormat, KiroImage, KiroImageSource

_FORMATS: frozenset[str] = frozenset(get_args(ImageFormat))
_ALIASES = {"jpg": "jpeg"}
_SUPPORTED = "image/jpeg, image/png, image/gif or image/webp"


def image_format(media_type: str) -> ImageFormat | None:
    """`image/png` -> `png`; None when Kiro cannot take the type."""
    kind, _, subtype = media_type.strip().lower().partition("/")
    subtype = _ALIASES.get(subtype, subtype)
    if kind != "image" or subtype not in _FORMATS:
        return None
    fmt: ImageFormat = subtype  # type: ignore[assignment]  # checked against the Literal's values
    return fmt


def strip_data_url(data: str) -> str:
    """Accept a whole `data:...;base64,` URL where bare base64 is expected."""
    if data.startswith("data:") and ";base64," in data:
        return data.split(";base64,", 1)[1]
    return data


def convert_image(block: ImageBlock) -> KiroImage:
    source = block.source
    if isinstance(source, Base64Source):
        fmt = image_format(source.media_type)
        if fmt is None:
            raise ConversionError(
                f"image media type '{source.media_type}' is not supported; use {_SUPPORTED}"
            )
        return KiroImage(format=fmt, source=KiroImageSource(bytes=strip_data_url(source.data)))
    if isinstance(source, URLSource):
        raise ConversionError(
            "URL image sources are not supported: the gateway does not fetch URLs; "
            "send the image inline as a base64 source"
        )
    if isinstance(source, FileSource):
        raise ConversionError("Files API image sources are not supported: send the image inline as base64")
    raise ConversionError(f"image source type '{source.type}' is not supported: send base64 image data")


__all__ = ["convert_image", "image_format", "strip_data_url"]
