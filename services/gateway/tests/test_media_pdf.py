"""gateway.media.pdf and .documents: PDFs become page text and page images, never nothing."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from gateway.media.documents import pdf_blocks
from gateway.media.images import MAX_LONG_EDGE
from gateway.media.pdf import MAX_RENDERED_PAGES, PAGE_IMAGE_BUDGET, PdfReading, read_pdf, read_pdf_base64
from kiro_testing.documents import IMAGE_PAGE, b64, encrypt_pdf, make_pdf
from kiroproto.anthropic.request import ImageBlock, TextBlock

PAGE_ONE = "The quarterly report says revenue grew by seven percent."
PAGE_TWO = "Page two lists the risks: supply, staffing and the weather."


def test_text_pages_are_extracted_in_order() -> None:
    reading = read_pdf(make_pdf([PAGE_ONE, PAGE_TWO], title="Q3 report"))
    assert reading.status == "ok" and reading.page_count == 2 and reading.title == "Q3 report"
    assert [(p.number, p.kind, p.text) for p in reading.pages] == [
        (1, "text", PAGE_ONE),
        (2, "text", PAGE_TWO),
    ]
    assert reading.images == ()


def test_page_without_text_layer_is_rendered_within_the_limits() -> None:
    reading = read_pdf(make_pdf([PAGE_ONE, IMAGE_PAGE]))
    page = reading.pages[1]
    assert page.kind == "image" and page.image is not None
    assert max(page.image.width, page.image.height) <= MAX_LONG_EDGE
    assert len(page.image.data) <= PAGE_IMAGE_BUDGET
    rendered = Image.open(io.BytesIO(page.image.data))
    assert rendered.size == (page.image.width, page.image.height)
    assert rendered.format == page.image.format.upper()


def test_blank_page_is_called_blank() -> None:
    assert read_pdf(make_pdf(["", PAGE_ONE])).pages[0].kind == "blank"


def test_encrypted_and_unreadable_pdfs_have_a_status() -> None:
    assert read_pdf(encrypt_pdf(make_pdf([PAGE_ONE]))).status == "encrypted"
    assert read_pdf(b"%PDF-1.7\nthis is not really a pdf").status == "unreadable"
    assert read_pdf(make_pdf([PAGE_ONE])[:200]).status in ("unreadable", "ok")


def test_too_many_pages_is_reported_before_reading_them() -> None:
    reading = read_pdf(make_pdf(["x"] * 5), max_pages=4)
    assert reading.status == "too_many_pages" and reading.page_count == 5 and reading.pages == ()


def test_rendering_stops_at_the_cap_and_says_so() -> None:
    reading = read_pdf(make_pdf([IMAGE_PAGE] * (MAX_RENDERED_PAGES + 1)))
    kinds = [page.kind for page in reading.pages]
    assert kinds == ["image"] * MAX_RENDERED_PAGES + ["not_rendered"]
    text = pdf_blocks(reading, title="scan.pdf", context=None)[0]
    assert isinstance(text, TextBlock)
    assert f"[Page {MAX_RENDERED_PAGES + 1}: no text layer; not attached" in text.text


def test_blocks_carry_title_page_markers_and_which_image_is_which_page() -> None:
    reading = read_pdf(make_pdf([PAGE_ONE, IMAGE_PAGE, PAGE_TWO, ""]))
    blocks = pdf_blocks(reading, title="report.pdf", context="from the finance team")
    assert isinstance(blocks[0], TextBlock)
    assert blocks[0].text.split("\n") == [
        "[Document: report.pdf (PDF, 4 pages)]",
        "[Context: from the finance team]",
        "[Page 1]",
        PAGE_ONE,
        "[Page 2: no text layer; attached as image 1 of 1 of this document]",
        "[Page 3]",
        PAGE_TWO,
        "[Page 4: blank]",
        "[End of document: report.pdf]",
    ]
    assert len(blocks) == 2 and isinstance(blocks[1], ImageBlock)


def test_title_falls_back_to_the_pdf_metadata_then_untitled() -> None:
    titled = pdf_blocks(read_pdf(make_pdf([PAGE_ONE], title="Meta title")), title=None, context=None)[0]
    untitled = pdf_blocks(read_pdf(make_pdf([PAGE_ONE])), title=None, context=None)[0]
    assert isinstance(titled, TextBlock) and titled.text.startswith("[Document: Meta title (PDF, 1 page)]")
    assert isinstance(untitled, TextBlock) and untitled.text.startswith("[Document: untitled PDF")


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        (PdfReading("encrypted"), "[Document: a.pdf (PDF): it is encrypted (password-protected)"),
        (PdfReading("unreadable"), "[Document: a.pdf (PDF): it could not be read"),
    ],
)
def test_placeholders_stand_where_the_document_was(reading: PdfReading, expected: str) -> None:
    blocks = pdf_blocks(reading, title="a.pdf", context=None)
    assert len(blocks) == 1 and isinstance(blocks[0], TextBlock)
    assert blocks[0].text.startswith(expected) and blocks[0].text.endswith("its content was not sent]")


def test_base64_entry_point() -> None:
    assert read_pdf_base64(b64(make_pdf([PAGE_ONE]))).pages[0].text == PAGE_ONE


_words = st.text(alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz"), min_size=1, max_size=12)


@settings(max_examples=10, deadline=None)
@given(pages=st.lists(st.lists(_words, min_size=8, max_size=20).map(" ".join), min_size=1, max_size=6))
def test_any_text_pdf_round_trips_its_words(pages: list[str]) -> None:
    reading = read_pdf(make_pdf(pages))
    assert reading.status == "ok"
    assert [page.text.split() for page in reading.pages] == [page.split() for page in pages]
