"""gateway.media.images: what goes to Kiro is within 1568 px and the byte budget, or a 400."""

from __future__ import annotations

import base64
import io
import pickle
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from gateway.media.errors import MediaRefused
from gateway.media.images import (
    MAX_BASE64_CHARS,
    MAX_IMAGE_BYTES,
    MAX_LONG_EDGE,
    fit_image,
    fit_image_base64,
    inspect_image,
)
from kiro_testing.documents import make_png


def _saved(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def test_small_image_passes_unchanged() -> None:
    png = make_png(300, 200)
    fitted = fit_image(png)
    assert not fitted.changed and fitted.data == png and fitted.format == "png"
    assert (fitted.width, fitted.height) == (300, 200)


def test_4000_by_3000_png_is_scaled_to_1568() -> None:
    fitted = fit_image(make_png(4000, 3000))
    assert fitted.changed and (fitted.width, fitted.height) == (1568, 1176)
    assert (fitted.original_width, fitted.original_height) == (4000, 3000)
    assert len(fitted.base64()) <= MAX_BASE64_CHARS
    assert Image.open(io.BytesIO(fitted.data)).size == (1568, 1176)


def test_noisy_image_over_the_budget_becomes_a_jpeg_within_it() -> None:
    fitted = fit_image(make_png(1500, 1500, noisy=True))  # within 1568 px, far over 300 KB
    assert fitted.changed and fitted.format == "jpeg"
    assert len(fitted.data) <= MAX_IMAGE_BYTES and max(fitted.width, fitted.height) <= MAX_LONG_EDGE


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(width=st.integers(1, 2400), height=st.integers(1, 2400), noisy=st.booleans())
def test_any_size_fits_the_limits_and_keeps_its_shape(width: int, height: int, noisy: bool) -> None:
    fitted = fit_image(make_png(width, height, noisy=noisy))
    assert max(fitted.width, fitted.height) <= MAX_LONG_EDGE
    assert len(fitted.base64()) <= MAX_BASE64_CHARS
    if not fitted.changed:
        assert (fitted.width, fitted.height) == (width, height)
    elif min(width, height) > 8:
        assert abs(fitted.width / fitted.height - width / height) < 0.05 * (width / height) + 0.1


def test_animated_gif_becomes_its_first_frame() -> None:
    frames = [Image.new("RGB", (40, 30), colour) for colour in ("red", "blue", "green")]
    gif = _saved(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert inspect_image(gif).animated
    fitted = fit_image(gif)
    assert fitted.changed and fitted.format == "png"
    first = Image.open(io.BytesIO(fitted.data))
    assert not getattr(first, "is_animated", False)
    assert first.convert("RGB").getpixel((5, 5)) == (255, 0, 0)


def test_odd_formats_are_converted() -> None:
    bmp = _saved(Image.new("RGB", (20, 10), "white"), "BMP")
    fitted = fit_image(bmp)
    assert fitted.format == "png" and (fitted.width, fitted.height) == (20, 10)


def test_wrongly_declared_format_is_read_from_the_bytes() -> None:
    jpeg = _saved(Image.new("RGB", (20, 10), "white"), "JPEG")
    assert inspect_image(jpeg).kiro_format == "jpeg"
    assert fit_image(jpeg).format == "jpeg"


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n"])
def test_undecodable_data_is_refused(data: bytes) -> None:
    with pytest.raises(MediaRefused, match="not a decodable image"):
        fit_image(data)


def test_invalid_base64_is_refused() -> None:
    with pytest.raises(MediaRefused, match="not valid base64"):
        fit_image_base64("!!not base64!!")


def test_decompression_bomb_is_refused_before_decoding() -> None:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")
    with pytest.raises(MediaRefused, match="pixels"):
        fit_image(png)


def test_data_url_prefix_is_accepted() -> None:
    png = make_png(10, 10)
    fitted = fit_image_base64("data:image/png;base64," + base64.b64encode(png).decode())
    assert fitted.data == png


def test_refusal_crosses_process_boundaries() -> None:
    copy = pickle.loads(pickle.dumps(MediaRefused("why")))
    assert isinstance(copy, MediaRefused) and copy.message == "why"
