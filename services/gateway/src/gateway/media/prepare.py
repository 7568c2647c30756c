"""Documents and images of a request made ready for Kiro, the heavy work off the event loop.

`prepare_media(request, offloader)` returns the request with every base64 PDF (in a user turn
or inside a tool result) replaced by the text and page-image blocks that stand for it
(`documents.pdf_blocks`), and every base64 image scaled and re-encoded within Kiro's limits
where needed (`images.fit_image`). The one converter then takes the result to Kiro, and
`count_request_tokens` counts what the model will actually get.

Bounds (Anthropic's): at most `MAX_PAGES` pages per PDF and `MAX_DOCUMENT_BYTES` of PDF per
request; beyond either, `MediaRefused` names the limit (a 400 in the client's shape). PDF
reading and image fitting run in worker processes through `Offloader.run` (or, inside a worker
already, where they are called: `prepare_request_here`); a small image that already fits
(`inspect_image` reads only its header) is checked on the loop and left as it is.
A request without documents or images returns at once, untouched.

Documents and images in assistant turns are left alone (the converter drops them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from typing import Literal, Protocol, TypeVar

from gateway.errors import InvalidRequest
from gateway.media.documents import document_title, pdf_blocks
from gateway.media.errors import MediaRefused
from gateway.media.images import (
    MAX_IMAGE_BYTES,
    FittedImage,
    decode_base64,
    fit_image_base64,
    inspect_image,
)
from gateway.media.pdf import MAX_PAGES, PdfReading, read_pdf_base64
from kiroproto.anthropic.request import (
    Base64Source,
    ContentBlock,
    ContentSource,
    CountTokensRequest,
    DocumentBlock,
    DocumentContentBlock,
    ImageBlock,
    Message,
    MessagesRequest,
    TextBlock,
    ToolResultBlock,
    ToolResultContentBlock,
)

MAX_DOCUMENT_BYTES = 32 * 1024 * 1024  # Anthropic: 32 MB of documents per request
PDF_MEDIA_TYPE = "application/pdf"

log = logging.getLogger(__name__)

R = TypeVar("R", MessagesRequest, CountTokensRequest)
T = TypeVar("T")
Kind = Literal["image", "pdf"]
Entry = FittedImage | PdfReading


class Runner(Protocol):
    """`gateway.offload.Offloader` (or anything with its `run`)."""

    async def run(self, fn: Callable[..., T], /, *args: object) -> T: ...


def is_pdf(block: DocumentBlock) -> bool:
    source = block.source
    return isinstance(source, Base64Source) and source.media_type.strip().lower() == PDF_MEDIA_TYPE


def _base64_size(data: str) -> int:
    return len(data) * 3 // 4


@dataclass(slots=True)
class _Survey:
    pdf_bytes: int = 0
    work: bool = False


def _survey_blocks(
    blocks: Sequence[ContentBlock | ToolResultContentBlock | DocumentContentBlock], survey: _Survey
) -> None:
    for block in blocks:
        if isinstance(block, ImageBlock) and isinstance(block.source, Base64Source):
            survey.work = True
        elif isinstance(block, DocumentBlock):
            if is_pdf(block):
                assert isinstance(block.source, Base64Source)
                survey.work = True
                survey.pdf_bytes += _base64_size(block.source.data)
            elif isinstance(block.source, ContentSource) and isinstance(block.source.content, list):
                _survey_blocks(block.source.content, survey)
        elif isinstance(block, ToolResultBlock) and isinstance(block.content, list):
            _survey_blocks(block.content, survey)


def survey(request: MessagesRequest | CountTokensRequest) -> tuple[bool, int]:
    """(whether any document or image needs looking at, bytes of PDF in the request)."""
    found = _Survey()
    for message in request.messages:
        if message.role == "user" and isinstance(message.content, list):
            _survey_blocks(message.content, found)
    return found.work, found.pdf_bytes


@dataclass(slots=True, kw_only=True)
class MediaStats:
    """What one request's preparation did (logged, never with content or titles)."""

    pdfs: int = 0
    pages: int = 0
    page_images: int = 0
    images_fitted: int = 0


class _Preparer:
    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.stats = MediaStats()

    async def _run(self, kind: Kind, fn: Callable[[str], Entry], data: str) -> Entry:
        """`fn(data)` through the runner (a worker process)."""
        try:
            return await self.runner.run(fn, data)
        except BrokenProcessPool:
            # the worker died on this input (or beside it): never a 5xx, never silence
            log.warning("media worker died", extra={"kind": kind, "base64_chars": len(data)})
            if kind == "pdf":
                return PdfReading("unreadable")
            raise MediaRefused("the image could not be processed (its decoder failed)") from None

    async def image(self, block: ImageBlock) -> ImageBlock:
        source = block.source
        if not isinstance(source, Base64Source):
            return block  # URL / file sources: the converter answers 400
        if _base64_size(source.data) <= MAX_IMAGE_BYTES:
            info = inspect_image(decode_base64(source.data))
            if info.fits(_base64_size(source.data)):
                fmt = info.kiro_format
                if fmt is not None and source.media_type.strip().lower() != f"image/{fmt}":
                    return block.model_copy(
                        update={"source": source.model_copy(update={"media_type": f"image/{fmt}"})}
                    )
                return block
        fitted = await self._run("image", fit_image_base64, source.data)
        assert isinstance(fitted, FittedImage)
        self.stats.images_fitted += fitted.changed
        new_source = Base64Source(type="base64", media_type=fitted.media_type, data=fitted.base64())
        return block.model_copy(update={"source": new_source})

    async def pdf(self, block: DocumentBlock) -> list[TextBlock | ImageBlock]:
        assert isinstance(block.source, Base64Source)
        reading = await self._run("pdf", read_pdf_base64, block.source.data)
        assert isinstance(reading, PdfReading)
        self.stats.pdfs += 1
        self.stats.pages += len(reading.pages)
        self.stats.page_images += len(reading.images)
        if reading.status == "too_many_pages":
            name = document_title(block.title, reading)
            raise MediaRefused(
                f"PDF '{name}' has {reading.page_count} pages; at most {MAX_PAGES} pages per document "
                "are supported"
            )
        return pdf_blocks(reading, title=block.title, context=block.context)

    async def inner(self, content: list[ToolResultContentBlock]) -> list[ToolResultContentBlock]:
        parts = await asyncio.gather(*(self.inner_block(block) for block in content))
        return [block for part in parts for block in part]

    async def inner_block(self, block: ToolResultContentBlock) -> list[ToolResultContentBlock]:
        if isinstance(block, ImageBlock | DocumentBlock):
            return list(await self.media(block))
        return [block]

    async def media(self, block: ImageBlock | DocumentBlock) -> list[TextBlock | ImageBlock | DocumentBlock]:
        """An image fitted, a PDF read into text and page images, a content document's images fitted."""
        if isinstance(block, ImageBlock):
            return [await self.image(block)]
        if is_pdf(block):
            return list(await self.pdf(block))
        return [await self.document_content(block)]

    async def document_content(self, block: DocumentBlock) -> DocumentBlock:
        source = block.source
        if not (isinstance(source, ContentSource) and isinstance(source.content, list)):
            return block
        images = [self.image(b) if isinstance(b, ImageBlock) else _same(b) for b in source.content]
        content = await asyncio.gather(*images)
        return block.model_copy(update={"source": source.model_copy(update={"content": list(content)})})

    async def block(self, block: ContentBlock) -> list[ContentBlock]:
        if isinstance(block, ImageBlock | DocumentBlock):
            return list(await self.media(block))
        if isinstance(block, ToolResultBlock) and isinstance(block.content, list):
            return [block.model_copy(update={"content": await self.inner(block.content)})]
        return [block]

    async def message(self, message: Message) -> Message:
        if message.role != "user" or isinstance(message.content, str):
            return message
        parts = await asyncio.gather(*(self.block(block) for block in message.content))
        return message.model_copy(update={"content": [block for part in parts for block in part]})


async def _same(value: T) -> T:
    return value


async def prepare_media(request: R, runner: Runner) -> R:
    """`request` with its PDFs and images made ready for Kiro (see the module docstring).

    Raises MediaRefused (a 400) for a limit crossed or data that is not what it claims to be."""
    work, pdf_bytes = survey(request)
    if not work:
        return request
    if pdf_bytes > MAX_DOCUMENT_BYTES:
        raise MediaRefused(
            f"the PDF documents of this request total {pdf_bytes / 1e6:.1f} MB; at most "
            f"{MAX_DOCUMENT_BYTES // (1024 * 1024)} MB of documents per request are supported"
        )
    started = time.perf_counter()
    preparer = _Preparer(runner)
    messages: Sequence[Awaitable[Message]] = [preparer.message(m) for m in request.messages]
    prepared = request.model_copy(update={"messages": list(await asyncio.gather(*messages))})
    log.info(
        "media prepared",
        extra={
            **asdict(preparer.stats),
            "pdf_bytes": pdf_bytes,
            "ms": round((time.perf_counter() - started) * 1e3, 1),
        },
    )
    return prepared


async def prepare_request(request: R, runner: Runner) -> R:
    """`prepare_media` with refusals as the gateway's 400 (`InvalidRequest`)."""
    try:
        return await prepare_media(request, runner)
    except MediaRefused as exc:
        raise InvalidRequest(exc.message) from exc


class NeedsWorker(Exception):
    """Media work was found where it must not run: on the event loop (bodies.prepare then runs
    the preparation again in a worker process)."""


class InlineRunner:
    """A `Runner` that runs the work where it is called: inside a worker process already."""

    async def run(self, fn: Callable[..., T], /, *args: object) -> T:
        return fn(*args)


def prepare_request_here(request: R) -> R:
    """`prepare_request` for the request preparation of prepare.py, which runs in a worker process
    whenever the body carries base64 data (bodies.needs_worker): documents and images are read
    there, one after the other, with no event loop to keep free."""
    if not survey(request)[0]:
        return request
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop: a worker process, as it should be
        return asyncio.run(prepare_request(request, InlineRunner()))
    raise NeedsWorker  # e.g. an escaped "base64" that bodies.needs_worker could not see


__all__ = [
    "MAX_DOCUMENT_BYTES",
    "InlineRunner",
    "MediaStats",
    "NeedsWorker",
    "Runner",
    "prepare_media",
    "prepare_request",
    "prepare_request_here",
    "survey",
]
