"""PDF bytes -> text pages and page images: pure (no I/O, no asyncio), typed results.

Kiro has no document type (kiro-protocol.md §4.3), so a PDF becomes what it can take: each
page's text layer (PDFium's text API, `pypdfium2`), and for a page with little or no text layer
(a scan, a chart: fewer than `MIN_PAGE_TEXT_CHARS` non-blank characters) an image of the page,
rendered by PDFium at up to `MAX_LONG_EDGE` px and encoded within `PAGE_IMAGE_BUDGET` bytes.
At most `MAX_RENDERED_PAGES` pages per document are rendered; later thin pages are reported
as not rendered, never dropped silently. A page that renders to one flat colour is blank.

An encrypted (password-protected) PDF or one PDFium cannot open gives a `PdfReading` with that
status and no pages: the caller puts a placeholder where the document was. More than
`max_pages` pages gives status `too_many_pages` (the caller answers 400) without reading any.

This module runs in a worker process (`gateway.offload`); it does not format the text the
model sees (`gateway.media.documents`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from gateway.media.images import MAX_LONG_EDGE, FittedImage, decode_base64, encode_within_budget

MAX_PAGES = 100  # Anthropic's limit per PDF
MIN_PAGE_TEXT_CHARS = 32
MAX_RENDERED_PAGES = 20
PAGE_IMAGE_BUDGET = 150_000  # bytes per page image (200 000 characters of base64)
MAX_RENDER_SCALE = 150 / 72  # at most 150 dpi for small pages

PdfStatus = Literal["ok", "encrypted", "unreadable", "too_many_pages"]
PageKind = Literal["text", "image", "blank", "not_rendered", "unreadable"]


@dataclass(frozen=True, slots=True)
class PdfPage:
    number: int  # 1-based
    kind: PageKind
    text: str  # the text layer (may be short or empty for image pages)
    image: FittedImage | None = None  # for kind "image"


@dataclass(frozen=True, slots=True)
class PdfReading:
    status: PdfStatus
    page_count: int = 0
    title: str | None = None  # the document's own /Title, if any
    pages: tuple[PdfPage, ...] = ()

    @property
    def images(self) -> tuple[FittedImage, ...]:
        return tuple(page.image for page in self.pages if page.image is not None)


def _visible_chars(text: str) -> int:
    return sum(1 for ch in text if not ch.isspace())


def _render(page: pdfium.PdfPage) -> FittedImage | None:
    """The page as an image within the page budget; None when the page is blank."""
    width_pt, height_pt = page.get_size()
    scale = min(MAX_RENDER_SCALE, MAX_LONG_EDGE / max(width_pt, height_pt, 1.0))
    bitmap = page.render(scale=scale, may_draw_forms=True)
    try:
        image: Image.Image = bitmap.to_pil()
    finally:
        bitmap.close()
    low, high = image.convert("L").getextrema()
    if low == high:
        return None
    data, fmt, frame = encode_within_budget(image, prefer_png=False, budget=PAGE_IMAGE_BUDGET)
    width, height = frame.size
    return FittedImage(data, fmt, width, height, image.size[0], image.size[1], changed=True)


def _read_page(pdf: pdfium.PdfDocument, index: int, renders_left: int) -> PdfPage:
    number = index + 1
    try:
        page = pdf[index]
    except pdfium.PdfiumError:
        return PdfPage(number, "unreadable", "")
    try:
        textpage = page.get_textpage()
        try:
            text = textpage.get_text_bounded().replace("\r\n", "\n").strip()
        finally:
            textpage.close()
        if _visible_chars(text) >= MIN_PAGE_TEXT_CHARS:
            return PdfPage(number, "text", text)
        if renders_left <= 0:
            return PdfPage(number, "not_rendered", text)
        image = _render(page)
        if image is None:
            return PdfPage(number, "text" if text else "blank", text)
        return PdfPage(number, "image", text, image)
    except pdfium.PdfiumError:
        return PdfPage(number, "unreadable", "")
    finally:
        page.close()


def _title(pdf: pdfium.PdfDocument) -> str | None:
    try:
        title = pdf.get_metadata_value("Title").strip()
    except (pdfium.PdfiumError, UnicodeDecodeError):
        return None
    return title or None


def read_pdf(data: bytes, max_pages: int = MAX_PAGES) -> PdfReading:
    """Text and page images of a PDF (see the module docstring)."""
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if exc.err_code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            return PdfReading("encrypted")
        return PdfReading("unreadable")
    try:
        count = len(pdf)
        if count > max_pages:
            return PdfReading("too_many_pages", page_count=count, title=_title(pdf))
        pages: list[PdfPage] = []
        renders_left = MAX_RENDERED_PAGES
        for index in range(count):
            page = _read_page(pdf, index, renders_left)
            if page.kind == "image":
                renders_left -= 1
            pages.append(page)
        return PdfReading("ok", page_count=count, title=_title(pdf), pages=tuple(pages))
    finally:
        pdf.close()


def read_pdf_base64(data: str, max_pages: int = MAX_PAGES) -> PdfReading:
    """`read_pdf` for base64 text (the worker-process entry point). MediaRefused if not base64."""
    return read_pdf(decode_base64(data, what="document"), max_pages)


__all__ = [
    "MAX_PAGES",
    "MAX_RENDERED_PAGES",
    "MIN_PAGE_TEXT_CHARS",
    "PAGE_IMAGE_BUDGET",
    "PageKind",
    "PdfPage",
    "PdfReading",
    "PdfStatus",
    "read_pdf",
    "read_pdf_base64",
]
