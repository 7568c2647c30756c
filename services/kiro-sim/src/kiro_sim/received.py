"""What a chat request brought, for tests to assert on: texts, and images with their sizes.

`received(body)` summarises a parsed `generateAssistantResponse` body: the current message's
text, its tool results' texts, and every image (current message and history) with its format,
byte size, base64 length and pixel size, and `sniffed`, the format its magic bytes say. (The
reference does not say whether the upstream rejects a `format` that does not match the bytes,
so the validator does not; tests can assert the match here.) Served by the control API as
`GET /_sim/accounts/{id}/last-request` -> `received`.

Own code on purpose: nothing here comes from the gateway's converter.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import asdict, dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError


@dataclass(frozen=True, slots=True)
class ReceivedImage:
    where: str  # "currentMessage" or "history[i]"
    format: str
    sniffed: str | None  # the format the bytes say
    bytes: int
    base64_chars: int
    width: int | None
    height: int | None


def sniff_format(raw: bytes) -> str | None:
    """`jpeg`, `png`, `gif` or `webp` from the first bytes; None for anything else."""
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if raw.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if raw[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if raw.startswith(b"RIFF") and raw[8:12] == b"WEBP":
        return "webp"
    return None


def _size(raw: bytes) -> tuple[int | None, int | None]:
    try:
        with Image.open(io.BytesIO(raw)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None, None


def _images(where: str, msg: dict[str, Any]) -> list[ReceivedImage]:
    out: list[ReceivedImage] = []
    images = msg.get("images")
    for image in images if isinstance(images, list) else []:
        if not isinstance(image, dict):
            continue
        source = image.get("source")
        data = source.get("bytes") if isinstance(source, dict) else None
        if not isinstance(data, str):
            continue
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        width, height = _size(raw)
        fmt = image.get("format")
        out.append(ReceivedImage(where, str(fmt), sniff_format(raw), len(raw), len(data), width, height))
    return out


def received(body: Any) -> dict[str, Any]:
    """The summary of a chat body (empty parts for anything malformed)."""
    state = body.get("conversationState") if isinstance(body, dict) else None
    state = state if isinstance(state, dict) else {}
    current = state.get("currentMessage")
    msg = current.get("userInputMessage") if isinstance(current, dict) else None
    msg = msg if isinstance(msg, dict) else {}
    images = _images("currentMessage", msg)
    history = state.get("history")
    for index, entry in enumerate(history if isinstance(history, list) else []):
        user = entry.get("userInputMessage") if isinstance(entry, dict) else None
        if isinstance(user, dict):
            images.extend(_images(f"history[{index}]", user))
    context = msg.get("userInputMessageContext")
    results = context.get("toolResults") if isinstance(context, dict) else None
    result_texts: list[str] = []
    for result in results if isinstance(results, list) else []:
        content = result.get("content") if isinstance(result, dict) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                result_texts.append(part["text"])
    text = msg.get("content")
    return {
        "current_text": text if isinstance(text, str) else "",
        "tool_result_texts": result_texts,
        "images": [asdict(image) for image in images],
    }


__all__ = ["ReceivedImage", "received", "sniff_format"]
