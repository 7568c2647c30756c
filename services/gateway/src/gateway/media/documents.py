"""What the model is given for a PDF: text with page markers and the title, plus page images.

Pure formatting of a `PdfReading` (`gateway.media.pdf`) into Anthropic content blocks, which
the one converter then takes to Kiro (text into the message or tool result, images into the
message's images, kiro-protocol.md §4.3, §19.7):

    [Document: report.pdf (PDF, 3 pages)]
    [Context: ...]                                  (when the client gave one)
    [Page 1]
    ...the page's text...
    [Page 2: no text layer; attached as image 1 of 1 of this document]
    [Page 3: blank]
    [End of document: report.pdf]

An encrypted or unreadable PDF becomes one placeholder line in the position of the document,
so the model knows a document was there and why it cannot see it.
"""

from __future__ import annotations

from gateway.media.pdf import MAX_RENDERED_PAGES, PdfPage, PdfReading
from kiroproto.anthropic.request import Base64Source, ImageBlock, TextBlock

UNTITLED = "untitled PDF"


def document_title(given: str | None, reading: PdfReading | None = None) -> str:
    """The client's title, else the PDF's own /Title, else `UNTITLED`."""
    if given and given.strip():
        return given.strip()
    if reading is not None and reading.title:
        return reading.title
    return UNTITLED


def placeholder(title: str, reading: PdfReading) -> str:
    """The line that stands for a PDF whose content cannot be sent."""
    if reading.status == "encrypted":
        why = "it is encrypted (password-protected) and could not be read"
    else:
        why = "it could not be read (damaged, or not a PDF)"
    return f"[Document: {title} (PDF): {why}; its content was not sent]"


def _page_lines(page: PdfPage, image_number: int, image_total: int) -> list[str]:
    match page.kind:
        case "text":
            return [f"[Page {page.number}]", page.text]
        case "image":
            lines = [
                f"[Page {page.number}: no text layer; attached as image {image_number} of "
                f"{image_total} of this document]"
            ]
            if page.text:
                lines.append(page.text)
            return lines
        case "blank":
            return [f"[Page {page.number}: blank]"]
        case "not_rendered":
            lines = [
                f"[Page {page.number}: no text layer; not attached (at most {MAX_RENDERED_PAGES} "
                "page images per document)]"
            ]
            if page.text:
                lines.append(page.text)
            return lines
        case "unreadable":
            return [f"[Page {page.number}: could not be read]"]


def pdf_blocks(
    reading: PdfReading, *, title: str | None, context: str | None
) -> list[TextBlock | ImageBlock]:
    """The text block (and page image blocks, in page order) that stand for a PDF."""
    name = document_title(title, reading)
    if reading.status != "ok":
        return [TextBlock(type="text", text=placeholder(name, reading))]
    pages = "page" if reading.page_count == 1 else "pages"
    lines = [f"[Document: {name} (PDF, {reading.page_count} {pages})]"]
    if context:
        lines.append(f"[Context: {context}]")
    images = reading.images
    number = 0
    for page in reading.pages:
        if page.image is not None:
            number += 1
        lines.extend(_page_lines(page, number, len(images)))
    lines.append(f"[End of document: {name}]")
    blocks: list[TextBlock | ImageBlock] = [TextBlock(type="text", text="\n".join(lines))]
    for image in images:
        source = Base64Source(type="base64", media_type=image.media_type, data=image.base64())
        blocks.append(ImageBlock(type="image", source=source))
    return blocks


__all__ = ["UNTITLED", "document_title", "pdf_blocks", "placeholder"]
