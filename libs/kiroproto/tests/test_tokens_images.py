"""Image dimensions from hand-written PNG / JPEG / GIF / WebP headers, and the token formula."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from kiroproto.tokens import base64_image_tokens, image_dimensions, image_dimensions_base64, image_tokens
from kiroproto.tokens.images import IMAGE_FALLBACK_TOKENS, MAX_IMAGE_TOKENS


def png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">II", width, height) + bytes([8, 2, 0, 0, 0])
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", zlib.crc32(chunk[4:])) + b"\x00" * 12


def gif(width: int, height: int, version: bytes = b"89a") -> bytes:
    return b"GIF" + version + struct.pack("<HH", width, height) + b"\xf7\x00\x00" + b"\x00" * 8


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def jpeg(width: int, height: int, *, sof: int = 0xC0, exif: int = 0, extras: bytes = b"") -> bytes:
    app0 = _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    app1 = _segment(0xE1, b"Exif\x00\x00" + b"\x00" * exif) if exif else b""
    frame = _segment(sof, bytes([8]) + struct.pack(">HH", height, width) + b"\x03\x01\x22\x00")
    return b"\xff\xd8" + app0 + app1 + extras + frame + _segment(0xDA, b"\x00" * 10) + b"\xff\xd9"


def _riff(chunk: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def webp_lossy(width: int, height: int) -> bytes:
    body = b"\x30\x01\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height) + b"\x00" * 4
    return _riff(b"VP8 " + struct.pack("<I", len(body)) + body)


def webp_lossless(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    body = b"\x2f" + struct.pack("<I", bits) + b"\x00" * 4
    return _riff(b"VP8L" + struct.pack("<I", len(body)) + body)


def webp_extended(width: int, height: int) -> bytes:
    body = b"\x10\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return _riff(b"VP8X" + struct.pack("<I", len(body)) + body)


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (png(640, 480), (640, 480)),
        (png(1, 70000), (1, 70000)),
        (gif(320, 200), (320, 200)),
        (gif(16, 9, b"87a"), (16, 9)),
        (jpeg(1024, 768), (1024, 768)),
        (jpeg(800, 600, sof=0xC2), (800, 600)),  # progressive
        (jpeg(300, 200, sof=0xC1), (300, 200)),
        (webp_lossy(550, 368), (550, 368)),
        (webp_lossless(16383, 1), (16383, 1)),
        (webp_extended(4000, 3000), (4000, 3000)),
    ],
    ids=[
        "png",
        "png-tall",
        "gif89a",
        "gif87a",
        "jpeg-baseline",
        "jpeg-progressive",
        "jpeg-sof1",
        "webp-vp8",
        "webp-vp8l",
        "webp-vp8x",
    ],
)
def test_dimensions_of_each_format(data: bytes, size: tuple[int, int]) -> None:
    assert image_dimensions(data) == size
    assert image_dimensions_base64(base64.b64encode(data).decode()) == size


def test_jpeg_skips_fill_bytes_and_standalone_markers() -> None:
    data = jpeg(
        64, 32, extras=b"\xff\xff\xff\xd0" + _segment(0xDB, b"\x00" * 65) + _segment(0xC4, b"\x00" * 20)
    )
    assert image_dimensions(data) == (64, 32)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all",
        png(640, 480)[:20],  # truncated IHDR
        png(0, 480),  # zero width
        b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dCgBI" + b"\x00" * 20,  # first chunk is not IHDR
        gif(0, 5),
        b"GIF89a\x01",
        b"\xff\xd8\xff\xda\x00\x02",  # start of scan before any frame header
        b"\xff\xd8\xff\xd9",  # end of image
        b"\xff\xd8\x00\x00\x00\x00",  # not a marker
        b"\xff\xd8\xff\xe0\x00",  # truncated length
        b"\xff\xd8\xff\xe0\x00\x01\x00\x00",  # impossible segment length
        b"\xff\xd8\xff\xc0\x00\x11\x08\x00",  # truncated frame header
        b"\xff\xd8\xff\xe0\x00\x10JFIF",  # ends inside a segment
        b"\xff\xd8",
        _riff(b"VP8 " + b"\x00" * 20),  # no start code
        _riff(b"VP8L" + b"\x00\x00\x00\x00\x00"),  # no signature byte
        _riff(b"ALPH" + b"\x00" * 20),
        webp_lossy(0, 10),
    ],
)
def test_unknown_or_broken_headers_give_none(data: bytes) -> None:
    assert image_dimensions(data) is None


def test_base64_header_beyond_the_prefix_is_still_found() -> None:
    data = jpeg(1920, 1080, exif=20_000)  # SOF after a 20 kB EXIF segment
    encoded = base64.b64encode(data).decode()
    assert len(encoded) > 20_000
    assert image_dimensions_base64(encoded) == (1920, 1080)


def test_base64_variants() -> None:
    encoded = base64.b64encode(png(100, 50)).decode()
    assert image_dimensions_base64("data:image/png;base64," + encoded) == (100, 50)
    wrapped = "\n".join(encoded[i : i + 16] for i in range(0, len(encoded), 16))
    assert image_dimensions_base64(wrapped) == (100, 50)
    assert image_dimensions_base64(encoded[:-3]) == (100, 50)  # partial last quantum dropped
    assert image_dimensions_base64("") is None
    assert image_dimensions_base64("A===") is None  # padding error -> nothing decoded
    assert image_dimensions_base64("!!!! not base64 at all" * 300) is None


def test_image_tokens_formula() -> None:
    assert image_tokens(200, 200) == 54  # ceil(40000 / 750)
    assert image_tokens(1000, 1000) == 1334
    assert image_tokens(1092, 1092) == 1590  # Anthropic's table: about 1590
    assert image_tokens(1, 1) == 1
    assert image_tokens(4000, 3000) == MAX_IMAGE_TOKENS  # scaled to 1568 x 1176, then capped
    assert image_tokens(1568, 400) == 837  # long edge at the limit: not scaled
    assert image_tokens(3136, 800) == 837  # halved to 1568 x 400
    assert image_tokens(0, 10) == IMAGE_FALLBACK_TOKENS


def test_base64_image_tokens() -> None:
    assert base64_image_tokens(base64.b64encode(gif(200, 200)).decode()) == 54
    assert base64_image_tokens("garbage") == IMAGE_FALLBACK_TOKENS
