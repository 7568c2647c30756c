"""Benchmark: what documents and images cost the gateway (issue 14), in process.

Workloads (made on the spot, deterministic): a 100-page text PDF; a 10-page PDF of which 5
pages have no text layer (rendered to images); a 4000 x 3000 PNG; a small PNG that already
fits. Rows (best of N, worker-process time, i.e. CPU the event loop does not spend):

- floor: `base64.b64decode` of the PDF (the least any PDF path does);
- read_pdf [100 text pages] / [10 pages, 5 scans]: `gateway.media.pdf.read_pdf_base64`;
- fit_image [4000 x 3000 PNG]: `gateway.media.images.fit_image_base64` (scaled to 1568 px);
- inspect_image [small PNG, on the loop]: the header check a fitting image gets on the loop;
- prepare_media through the Offloader: the 100-page PDF and the large PNG in one request,
  through real worker processes (what a request waits, IPC included).
"""

from __future__ import annotations

import asyncio
import base64
import functools
from collections.abc import Callable

from bench._harness import Config, Measurement, Table, best_of_interleaved
from gateway.media.images import decode_base64, fit_image_base64, inspect_image
from gateway.media.pdf import read_pdf_base64
from gateway.media.prepare import prepare_media
from gateway.offload import Offloader
from kiro_testing.documents import IMAGE_PAGE, b64, make_pdf, make_png, pdf_document
from kiroproto.anthropic.request import MessagesRequest


def _text_pages(count: int) -> list[str | object]:
    return [f"Page {n}: " + "the quarterly figures and the prose around them " * 8 for n in range(count)]


def _prepare_once(offloader: Offloader, request: MessagesRequest) -> None:
    async def go() -> None:
        await prepare_media(request, offloader)

    asyncio.run(go())


def run(config: Config) -> list[Table]:
    pages = 20 if config.quick else 100
    text_pdf = b64(make_pdf(_text_pages(pages)))
    scans: list[str | object] = _text_pages(10)
    for index in (1, 3, 5, 7, 9):
        scans[index] = IMAGE_PAGE
    scan_pdf = b64(make_pdf(scans))
    big_png = b64(make_png(4000, 3000))
    small_png = base64.b64decode(b64(make_png(800, 600)))
    request = MessagesRequest.model_validate(
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 16,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        pdf_document(base64.b64decode(text_pdf), title="report.pdf"),
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": big_png},
                        },
                        {"type": "text", "text": "summarise"},
                    ],
                }
            ],
        }
    )
    table = Table(
        f"documents: {pages}-page text PDF ({len(text_pdf) / 1e6:.2f} MB base64), 10-page PDF with "
        f"5 scans, 4000 x 3000 PNG; best of {config.repeat}",
        unit="pages",
    )
    floor = "floor: base64 decode of the PDF"
    offloader = Offloader(workers=2)
    try:
        runs: dict[str, Callable[[], object]] = {
            floor: functools.partial(decode_base64, text_pdf, "document"),
            f"read_pdf [{pages} text pages]": functools.partial(read_pdf_base64, text_pdf),
            "read_pdf [10 pages, 5 scans]": functools.partial(read_pdf_base64, scan_pdf),
            "fit_image [4000 x 3000 PNG]": functools.partial(fit_image_base64, big_png),
            "inspect_image [800 x 600 PNG, on the loop]": functools.partial(inspect_image, small_png),
            "prepare_media via Offloader [PDF + PNG]": functools.partial(_prepare_once, offloader, request),
        }
        counts = {"read_pdf [10 pages, 5 scans]": 10, "fit_image [4000 x 3000 PNG]": 1}
        counts["inspect_image [800 x 600 PNG, on the loop]"] = 1
        for name, seconds in best_of_interleaved(runs, config.repeat).items():
            table.add(
                Measurement(name, counts.get(name, pages), seconds, floor=None if name == floor else floor)
            )
    finally:
        offloader.close()
    table.notes.append(
        "the PDF and image rows run in worker processes in the gateway: the event loop stays free"
    )
    return [table]
