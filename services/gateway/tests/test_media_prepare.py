"""gateway.media.prepare: requests with PDFs and images, through real worker processes."""

from __future__ import annotations

import os
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import httpx
import pytest
from gw_helpers import AUTH

from gateway.errors import InvalidRequest
from gateway.media.errors import MediaRefused
from gateway.media.prepare import MAX_DOCUMENT_BYTES, prepare_media, prepare_request
from gateway.offload import Offloader
from kiro_testing.documents import IMAGE_PAGE, b64, encrypt_pdf, make_pdf, make_png, pdf_document
from kiroproto.anthropic.request import (
    ImageBlock,
    MessagesRequest,
    TextBlock,
    ToolResultBlock,
)
from kiroproto.convert import convert_anthropic_request
from kiroproto.models import ModelMap

TEXT = "The secret word of this document is marmalade, and it is on page one."


@pytest.fixture(scope="module")
def offloader() -> Any:
    pool = Offloader(workers=1)
    yield pool
    pool.close()


def request(*content: dict[str, Any], tool: bool = False) -> MessagesRequest:
    messages: list[dict[str, Any]] = [{"role": "user", "content": list(content)}]
    if tool:
        messages = [
            {"role": "user", "content": "read it"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": {}}]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": list(content)}],
            },
        ]
    return MessagesRequest.model_validate(
        {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": messages}
    )


def kiro_current(req: MessagesRequest) -> dict[str, Any]:
    body = convert_anthropic_request(req, ModelMap().resolve(req.model)).body.to_wire()
    current: dict[str, Any] = body["conversationState"]["currentMessage"]["userInputMessage"]
    return current


async def test_request_without_media_is_returned_as_is(offloader: Offloader) -> None:
    req = request({"type": "text", "text": "hi"})
    assert await prepare_media(req, offloader) is req


async def test_pdf_in_a_user_turn_becomes_text_and_page_images(offloader: Offloader) -> None:
    pdf = pdf_document(make_pdf([TEXT, IMAGE_PAGE]), title="notes.pdf", citations={"enabled": True})
    prepared = await prepare_media(request(pdf, {"type": "text", "text": "what is the word?"}), offloader)
    blocks = prepared.messages[0].blocks()
    kinds: list[type[object]] = [TextBlock, ImageBlock, TextBlock]
    assert [type(b) for b in blocks] == kinds
    current = kiro_current(prepared)
    assert "[Document: notes.pdf (PDF, 2 pages)]" in current["content"] and TEXT in current["content"]
    assert [image["format"] for image in current["images"]] == ["jpeg"]


async def test_pdf_in_a_tool_result_reaches_the_tool_result_text(offloader: Offloader) -> None:
    prepared = await prepare_media(request(pdf_document(make_pdf([TEXT, IMAGE_PAGE])), tool=True), offloader)
    result = prepared.messages[2].blocks()[0]
    assert isinstance(result, ToolResultBlock) and isinstance(result.content, list)
    current = kiro_current(prepared)
    text = current["userInputMessageContext"]["toolResults"][0]["content"][0]["text"]
    assert TEXT in text and "[Page 2: no text layer; attached as image 1 of 1" in text
    assert len(current["images"]) == 1  # lifted out of the tool result (§19.7)


async def test_encrypted_pdf_gets_a_placeholder_in_its_place(offloader: Offloader) -> None:
    pdf = pdf_document(encrypt_pdf(make_pdf([TEXT])), title="locked.pdf")
    prepared = await prepare_media(request({"type": "text", "text": "before"}, pdf), offloader)
    texts = [b.text for b in prepared.messages[0].blocks() if isinstance(b, TextBlock)]
    assert texts[0] == "before" and texts[1].startswith("[Document: locked.pdf (PDF): it is encrypted")


async def test_large_image_is_scaled_and_small_one_left_alone(offloader: Offloader) -> None:
    small = make_png(20, 20)
    blocks = [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": b64(make_png(4000, 3000))},
        },
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": b64(small)}},
    ]
    prepared = await prepare_media(request(*blocks), offloader)
    big, kept = prepared.messages[0].blocks()
    assert isinstance(big, ImageBlock) and isinstance(kept, ImageBlock)
    assert kept.source.model_dump()["data"] == b64(small)
    assert kept.source.model_dump()["media_type"] == "image/png"  # corrected from the bytes
    assert len(big.source.model_dump()["data"]) < 400_000


async def test_101_pages_is_a_400_naming_the_limit(offloader: Offloader) -> None:
    req = request(pdf_document(make_pdf(["p"] * 101), title="long.pdf"))
    with pytest.raises(InvalidRequest, match="'long.pdf' has 101 pages; at most 100 pages"):
        await prepare_request(req, offloader)


async def test_more_than_32_mb_of_documents_is_a_400_before_any_work() -> None:
    class NoWork:
        async def run(self, fn: Any, /, *args: object) -> Any:
            raise AssertionError("nothing may be read past the limit")

    half = "A" * (MAX_DOCUMENT_BYTES // 3 * 4 // 2 + 4)  # base64 of just over half the limit, twice
    doc = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": half}}
    with pytest.raises(MediaRefused, match="at most 32 MB of documents per request"):
        await prepare_media(request(doc, doc), NoWork())


async def test_undecodable_image_is_a_400(offloader: Offloader) -> None:
    bad = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "aGVsbG8="}}
    with pytest.raises(InvalidRequest, match="not a decodable image"):
        await prepare_request(request(bad), offloader)


async def test_count_tokens_counts_what_the_document_becomes(client: httpx.AsyncClient) -> None:
    async def count(*content: dict[str, Any]) -> int:
        body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": list(content)}]}
        response = await client.post("/v1/messages/count_tokens", json=body, headers=AUTH)
        assert response.status_code == 200, response.text
        return int(response.json()["input_tokens"])

    text_only = await count(pdf_document(make_pdf([TEXT])))
    with_scan = await count(pdf_document(make_pdf([TEXT, IMAGE_PAGE])))
    assert 10 < text_only < 200  # the page's text, not a flat 1500 per page
    assert with_scan - text_only > 1000  # the page image (about 1568 x 1212 / 750 tokens)
    too_long = {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": [pdf_document(make_pdf(["p"] * 101))]}],
    }
    response = await client.post("/v1/messages/count_tokens", json=too_long, headers=AUTH)
    assert response.status_code == 400 and "101 pages" in response.json()["error"]["message"]


async def test_a_dead_worker_does_not_break_the_offloader() -> None:
    pool = Offloader(workers=1)
    try:
        with pytest.raises(BrokenProcessPool):
            await pool.run(os._exit, 3)  # what a native crash on hostile input looks like
        assert await pool.run(abs, -4) == 4  # a new pool for the next call
    finally:
        pool.close()


async def test_a_dead_worker_gives_a_placeholder_or_a_400_never_a_5xx() -> None:
    class Dying:
        async def run(self, fn: Any, /, *args: object) -> Any:
            raise BrokenProcessPool("worker died")

    prepared = await prepare_media(request(pdf_document(make_pdf([TEXT]), title="bad.pdf")), Dying())
    (block,) = prepared.messages[0].blocks()
    assert isinstance(block, TextBlock) and block.text.startswith(
        "[Document: bad.pdf (PDF): it could not be read"
    )
    big = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": b64(make_png(2000, 100))},
    }
    with pytest.raises(MediaRefused, match="could not be processed"):
        await prepare_media(request(big), Dying())
