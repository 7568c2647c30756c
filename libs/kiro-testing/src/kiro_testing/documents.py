"""Test documents and images made on the spot: minimal PDFs written by hand, PNGs with Pillow.

`make_pdf` writes a valid PDF (catalog, page tree, Helvetica, one content stream per page and,
for image pages, an RGB image XObject filling the page) with a correct cross-reference table.
A page given as a string gets that text (one line per `\\n`, long lines wrapped at 70
characters); a page given as `IMAGE_PAGE` has no text layer at all, only a picture (what a
scan or a chart looks like to a text extractor).
`encrypt_pdf` password-protects a PDF with pypdf (a test-only dependency).
"""

from __future__ import annotations

import base64
import io
import textwrap
import zlib
from collections.abc import Sequence

IMAGE_PAGE = object()
"""A page marker for `make_pdf`: a page with an image and no text layer."""

_PAGE_W, _PAGE_H = 612, 792  # US Letter in points


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _text_stream(text: str) -> bytes:
    lines = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
    for paragraph in text.split("\n"):
        for line in textwrap.wrap(paragraph, 70, break_long_words=False) or [""]:
            lines.append(f"({_escape(line)}) Tj T*")
    lines.append("ET")
    return "\n".join(lines).encode("latin-1")


def _image_pixels(width: int = 64, height: int = 64) -> bytes:
    """A diagonal gradient with a dark square: clearly not blank."""
    rows = bytearray()
    for y in range(height):
        for x in range(width):
            dark = width // 4 <= x < width * 3 // 4 and height // 4 <= y < height * 3 // 4
            rows += bytes((20, 40, 90) if dark else ((x * 4) % 256, (y * 4) % 256, 200))
    return bytes(rows)


def make_pdf(pages: Sequence[str | object], *, title: str | None = None) -> bytes:
    """A PDF with one page per item (text, or `IMAGE_PAGE`)."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below
    tree = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    page_ids: list[int] = []
    for page in pages:
        resources = f"/Font << /F1 {font} 0 R >>"
        if page is IMAGE_PAGE:
            pixels = zlib.compress(_image_pixels())
            image = add(
                b"<< /Type /XObject /Subtype /Image /Width 64 /Height 64 /ColorSpace /DeviceRGB "
                b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n"
                % len(pixels)
                + pixels
                + b"\nendstream"
            )
            resources += f" /XObject << /Im1 {image} 0 R >>"
            content = f"q {_PAGE_W - 144} 0 0 {_PAGE_H - 144} 72 72 cm /Im1 Do Q".encode()
        else:
            assert isinstance(page, str)
            content = _text_stream(page)
        stream = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        page_ids.append(
            add(
                f"<< /Type /Page /Parent {tree} 0 R /MediaBox [0 0 {_PAGE_W} {_PAGE_H}] "
                f"/Resources << {resources} >> /Contents {stream} 0 R >>".encode()
            )
        )
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {tree} 0 R >>".encode()
    kids = " ".join(f"{i} 0 R" for i in page_ids)
    objects[tree - 1] = f"<< /Type /Pages /Kids [{kids}] /Count {len(page_ids)} >>".encode()
    info = add(f"<< /Title ({_escape(title)}) >>".encode("latin-1")) if title else None

    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    trailer = f"<< /Size {len(objects) + 1} /Root {catalog} 0 R"
    if info is not None:
        trailer += f" /Info {info} 0 R"
    out.write(f"trailer\n{trailer} >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def encrypt_pdf(pdf: bytes, password: str = "secret") -> bytes:
    """The same PDF, openable only with `password`."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_png(width: int, height: int, *, noisy: bool = False) -> bytes:
    """A PNG of the given size (a gradient; `noisy` makes it hard to compress)."""
    from PIL import Image

    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    if noisy:
        noise = Image.effect_noise((width, height), 64).convert("RGB")
        image = Image.blend(image, noise, 0.5)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def pdf_document(pdf: bytes, **extra: object) -> dict[str, object]:
    """An Anthropic `document` block with a base64 PDF source."""
    return {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": b64(pdf)},
        **extra,
    }


__all__ = ["IMAGE_PAGE", "b64", "encrypt_pdf", "make_pdf", "make_png", "pdf_document"]
