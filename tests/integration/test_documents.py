"""Documents and images end to end (issue 14), through both SDK shapes: the anthropic and openai
clients -> gateway -> broker -> the Kiro simulator, which reports what arrived
(`GET /_sim/accounts/{id}/last-request` -> `received`: texts, images with their sizes).

One simulator account, so the last request is always the one just sent.
"""

from __future__ import annotations

import base64
import concurrent.futures
import io
import json
import time
from typing import Any, cast

import anthropic
import openai
import pytest
from PIL import Image

from kiro_testing.documents import IMAGE_PAGE, b64, encrypt_pdf, make_pdf, make_png, pdf_document
from kiro_testing.pytest_plugin import Stacks
from kiro_testing.sim import Sim, credential
from kiro_testing.stack import Stack, StackConfig

pytestmark = pytest.mark.integration

MODEL = "claude-sonnet-4-6"
SECRET = "The launch code written in this PDF is PELICAN-4471."
SECOND = "The second page says the meeting moved to Thursday."


def say(text: str) -> str:
    return f"<<sim:{json.dumps({'text': text})}>>"


@pytest.fixture(scope="module")
def account(sim: Sim) -> dict[str, Any]:
    return sim.add_account()


@pytest.fixture(scope="module")
def pool(sim: Sim, account: dict[str, Any], module_stacks: Stacks) -> Stack:
    return module_stacks(StackConfig(credentials=[credential(account)]), sim=sim)


def received(sim: Sim, account: dict[str, Any]) -> dict[str, Any]:
    last = sim.last_request(account["id"])
    summary: dict[str, Any] = last["received"]
    return summary


def ask(claude: anthropic.Anthropic, content: list[dict[str, Any]], answer: str = "ok") -> str:
    message = claude.messages.create(
        model=MODEL,
        max_tokens=64,
        messages=cast(Any, [{"role": "user", "content": [*content, {"type": "text", "text": say(answer)}]}]),
    )
    block = message.content[0]
    assert block.type == "text"
    return block.text


def file_part(pdf: bytes, name: str) -> dict[str, Any]:
    return {
        "type": "file",
        "file": {"file_data": "data:application/pdf;base64," + b64(pdf), "filename": name},
    }


def chat(oai: openai.OpenAI, parts: list[dict[str, Any]], answer: str = "ok") -> str:
    response = oai.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": [*parts, {"type": "text", "text": say(answer)}]}],  # type: ignore[list-item,misc]
    )
    return response.choices[0].message.content or ""


# ------------------------------------------------------------------ text


def test_pdf_in_a_user_turn_arrives_as_its_text(
    claude: anthropic.Anthropic, sim: Sim, account: dict[str, Any]
) -> None:
    doc = pdf_document(make_pdf([SECRET, SECOND]), title="launch.pdf", citations={"enabled": True})
    assert ask(claude, [doc], "read it") == "read it"
    text = received(sim, account)["current_text"]
    assert "[Document: launch.pdf (PDF, 2 pages)]" in text
    assert "[Page 1]\n" + SECRET in text and "[Page 2]\n" + SECOND in text


def test_pdf_in_a_tool_result_arrives_as_its_text(
    claude: anthropic.Anthropic, sim: Sim, account: dict[str, Any]
) -> None:
    """Claude Code's Read tool on a .pdf: the document inside the tool_result."""
    read = {
        "type": "tool_use",
        "id": "toolu_read1",
        "name": "Read",
        "input": {"file_path": "/tmp/launch.pdf"},
    }
    tool = {
        "name": "Read",
        "description": "Read a file.",
        "input_schema": {"type": "object", "properties": {}},
    }
    result = {
        "type": "tool_result",
        "tool_use_id": "toolu_read1",
        "content": [pdf_document(make_pdf([SECRET], title="launch.pdf"))],
    }
    message = claude.messages.create(
        model=MODEL,
        max_tokens=64,
        tools=[tool],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": "read /tmp/launch.pdf"},
            {"role": "assistant", "content": [read]},  # type: ignore[list-item,misc]
            {"role": "user", "content": [result, {"type": "text", "text": say("seen")}]},  # type: ignore[list-item,misc]
        ],
    )
    assert message.content[0].text == "seen"  # type: ignore[union-attr]
    texts = received(sim, account)["tool_result_texts"]
    assert len(texts) == 1 and SECRET in texts[0] and "[Document: launch.pdf (PDF, 1 page)]" in texts[0]


def test_openai_file_part_arrives_as_its_text(oai: openai.OpenAI, sim: Sim, account: dict[str, Any]) -> None:
    assert chat(oai, [file_part(make_pdf([SECRET]), "launch.pdf")], "fine") == "fine"
    text = received(sim, account)["current_text"]
    assert "[Document: launch.pdf (PDF, 1 page)]" in text and SECRET in text


def test_plain_text_documents_keep_working(
    claude: anthropic.Anthropic, sim: Sim, account: dict[str, Any]
) -> None:
    doc = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": SECOND},
        "title": "memo",
    }
    ask(claude, [doc])
    assert received(sim, account)["current_text"].startswith("Document: memo\n" + SECOND)


# ------------------------------------------------------------------ pages without a text layer


def _assert_one_page_image(got: dict[str, Any]) -> None:
    images = got["images"]
    assert len(images) == 1
    image = images[0]
    assert image["format"] == image["sniffed"] == "jpeg"
    assert max(image["width"], image["height"]) <= 1568
    assert image["base64_chars"] <= 400_000


def test_page_without_text_layer_arrives_as_an_image(
    claude: anthropic.Anthropic, sim: Sim, account: dict[str, Any]
) -> None:
    ask(claude, [pdf_document(make_pdf([SECRET, IMAGE_PAGE]), title="scan.pdf")])
    got = received(sim, account)
    _assert_one_page_image(got)
    assert "[Page 2: no text layer; attached as image 1 of 1 of this document]" in got["current_text"]


def test_openai_page_without_text_layer_arrives_as_an_image(
    oai: openai.OpenAI, sim: Sim, account: dict[str, Any]
) -> None:
    chat(oai, [file_part(make_pdf([IMAGE_PAGE]), "chart.pdf")])
    got = received(sim, account)
    _assert_one_page_image(got)
    assert "[Page 1: no text layer" in got["current_text"]


# ------------------------------------------------------------------ encrypted


def test_encrypted_pdf_gets_a_placeholder(
    claude: anthropic.Anthropic, oai: openai.OpenAI, sim: Sim, account: dict[str, Any]
) -> None:
    locked = encrypt_pdf(make_pdf([SECRET]))
    ask(claude, [pdf_document(locked, title="locked.pdf")])
    text = received(sim, account)["current_text"]
    assert text.startswith("[Document: locked.pdf (PDF): it is encrypted (password-protected)")
    assert SECRET not in text
    chat(oai, [file_part(locked, "locked.pdf")])
    assert "[Document: locked.pdf (PDF): it is encrypted" in received(sim, account)["current_text"]


# ------------------------------------------------------------------ bounds


def test_100_pages_answered_while_a_small_request_stays_fast(
    claude: anthropic.Anthropic, sim: Sim, account: dict[str, Any]
) -> None:
    pages: list[str | object] = [
        f"Page {n} of the long report: " + "figures and prose " * 6 for n in range(1, 101)
    ]
    for n in (10, 30, 50, 70, 90):  # a few scans: rendered in the worker processes
        pages[n - 1] = IMAGE_PAGE
    big = pdf_document(make_pdf(pages), title="long.pdf")
    ask(claude, [], "warm")  # a first request on a cold stack also fetches a token and a lease
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        future = executor.submit(ask, claude, [big], "long done")
        latencies: list[float] = []
        while not future.done():
            started = time.perf_counter()
            small = claude.messages.create(
                model=MODEL, max_tokens=16, messages=[{"role": "user", "content": say("small")}]
            )
            latencies.append(time.perf_counter() - started)
            assert small.content[0].text == "small"  # type: ignore[union-attr]
        assert future.result() == "long done"
    assert latencies and max(latencies) < 1.0, latencies


def test_101_pages_is_a_400_saying_so(claude: anthropic.Anthropic, oai: openai.OpenAI) -> None:
    pdf = make_pdf(["p"] * 101)
    with pytest.raises(anthropic.BadRequestError) as info:
        ask(claude, [pdf_document(pdf, title="huge.pdf")])
    assert "'huge.pdf' has 101 pages; at most 100 pages per document" in str(info.value)
    with pytest.raises(openai.BadRequestError) as oinfo:
        chat(oai, [file_part(pdf, "huge.pdf")])
    assert "101 pages" in str(oinfo.value)


# ------------------------------------------------------------------ images


def _png_block(png: bytes) -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64(png)}}


def test_4000_by_3000_png_arrives_at_most_1568_px(
    claude: anthropic.Anthropic, oai: openai.OpenAI, sim: Sim, account: dict[str, Any]
) -> None:
    png = make_png(4000, 3000)
    ask(claude, [_png_block(png)])
    (image,) = received(sim, account)["images"]
    assert (image["width"], image["height"]) == (1568, 1176) and image["base64_chars"] <= 400_000
    chat(oai, [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + b64(png)}}])
    (image,) = received(sim, account)["images"]
    assert max(image["width"], image["height"]) <= 1568


def test_large_image_inside_a_tool_result_is_scaled_and_lifted(
    claude: anthropic.Anthropic, sim: Sim, account: dict[str, Any]
) -> None:
    shot = {"type": "tool_use", "id": "toolu_shot1", "name": "Screenshot", "input": {}}
    tool = {
        "name": "Screenshot",
        "description": "Take one.",
        "input_schema": {"type": "object", "properties": {}},
    }
    result = {
        "type": "tool_result",
        "tool_use_id": "toolu_shot1",
        "content": [_png_block(make_png(3200, 2000))],
    }
    claude.messages.create(
        model=MODEL,
        max_tokens=64,
        tools=[tool],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": "screenshot please"},
            {"role": "assistant", "content": [shot]},  # type: ignore[list-item,misc]
            {"role": "user", "content": [result, {"type": "text", "text": say("seen")}]},  # type: ignore[list-item,misc]
        ],
    )
    (image,) = received(sim, account)["images"]
    assert image["where"] == "currentMessage" and (image["width"], image["height"]) == (1568, 980)


def test_animated_gif_arrives_as_its_first_frame(
    claude: anthropic.Anthropic, sim: Sim, account: dict[str, Any]
) -> None:
    frames = [Image.new("RGB", (60, 40), colour) for colour in ("red", "blue")]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
    gif = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/gif", "data": b64(out.getvalue())},
    }
    ask(claude, [gif])
    (image,) = received(sim, account)["images"]
    assert image["format"] == image["sniffed"] == "png" and (image["width"], image["height"]) == (60, 40)


def test_undecodable_image_is_a_clear_400(claude: anthropic.Anthropic) -> None:
    bad = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(b"no").decode()},
    }
    with pytest.raises(anthropic.BadRequestError, match="not a decodable image"):
        ask(claude, [bad])


@pytest.mark.parametrize("kind", ["image", "document"])
def test_url_sources_are_refused(claude: anthropic.Anthropic, kind: str) -> None:
    block = {"type": kind, "source": {"type": "url", "url": "http://169.254.169.254/latest/meta-data"}}
    with pytest.raises(anthropic.BadRequestError, match="does not fetch URLs"):
        ask(claude, [block])


# ------------------------------------------------------------------ counting


def test_count_tokens_and_message_start_count_the_pages(claude: anthropic.Anthropic) -> None:
    text_pdf = pdf_document(make_pdf([SECRET]))
    scan_pdf = pdf_document(make_pdf([SECRET, IMAGE_PAGE]))

    def counted(doc: dict[str, Any]) -> int:
        messages = [{"role": "user", "content": [doc, {"type": "text", "text": "summarise"}]}]
        return claude.messages.count_tokens(model=MODEL, messages=messages).input_tokens  # type: ignore[arg-type]

    def message_start(doc: dict[str, Any]) -> int:
        messages = [{"role": "user", "content": [doc, {"type": "text", "text": say("ok")}]}]
        with claude.messages.stream(model=MODEL, max_tokens=16, messages=messages) as stream:  # type: ignore[arg-type]
            for event in stream:
                if event.type == "message_start":
                    return event.message.usage.input_tokens
        raise AssertionError("no message_start")

    assert 10 < counted(text_pdf) < 300  # the page's words, not a flat rate per page
    assert counted(scan_pdf) - counted(text_pdf) > 1000  # the page image (~1568 x 1212 / 750)
    assert message_start(scan_pdf) - message_start(text_pdf) > 1000
