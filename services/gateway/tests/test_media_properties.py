"""Property: any mix of PDFs and images, in user turns and tool results, once prepared, converts
to a Kiro body the simulator accepts, keeps every document visible (text or placeholder), and
sends only images within the limits."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from starlette.testclient import TestClient

from gateway.media.images import MAX_BASE64_CHARS, MAX_LONG_EDGE
from gateway.media.prepare import prepare_media
from gateway.offload import Offloader
from kiro_sim import SimSettings, create_app
from kiro_testing.documents import IMAGE_PAGE, b64, encrypt_pdf, make_pdf, make_png, pdf_document
from kiroproto.anthropic.request import MessagesRequest
from kiroproto.convert import convert_anthropic_request
from kiroproto.models import ModelMap

ARN = "arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK"
_PDF_PAGES = st.lists(st.sampled_from(["words on a page " * 4, IMAGE_PAGE, ""]), min_size=1, max_size=3)


@st.composite
def media_block(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["pdf", "encrypted", "png"]))
    if kind == "png":
        png = make_png(draw(st.integers(1, 2400)), draw(st.integers(1, 2400)))
        return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64(png)}}
    pdf = make_pdf(draw(_PDF_PAGES))
    return pdf_document(encrypt_pdf(pdf) if kind == "encrypted" else pdf, title=f"{kind}.pdf")


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[TestClient, str]]:
    with TestClient(create_app(SimSettings(_env_file=None, seed_demo=True))) as client:
        token = client.post("/_sim/accounts/demo/access-tokens").json()["access_token"]
        yield client, token


@pytest.fixture(scope="module")
def offloader() -> Iterator[Offloader]:
    pool = Offloader(workers=2)
    yield pool
    pool.close()


def _request(user_blocks: list[dict[str, Any]], result_blocks: list[dict[str, Any]]) -> MessagesRequest:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [*user_blocks, {"type": "text", "text": "look"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": result_blocks}]},
    ]
    tool = {
        "name": "Read",
        "description": "Read a file.",
        "input_schema": {"type": "object", "properties": {}},
    }
    return MessagesRequest.model_validate(
        {"model": "claude-sonnet-4-5", "max_tokens": 8, "tools": [tool], "messages": messages}
    )


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(user=st.lists(media_block(), max_size=2), results=st.lists(media_block(), min_size=1, max_size=2))
async def test_prepared_media_is_accepted_and_nothing_disappears(
    sim: tuple[TestClient, str],
    offloader: Offloader,
    user: list[dict[str, Any]],
    results: list[dict[str, Any]],
) -> None:
    prepared = await prepare_media(_request(user, results), offloader)
    body = convert_anthropic_request(prepared, ModelMap().resolve("claude-sonnet-4-5"), profile_arn=ARN).body
    wire = body.to_wire()
    client, token = sim
    response = client.post(
        "/generateAssistantResponse",
        content=body.to_json_bytes(),
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    text = json_text(wire)
    for block in [*user, *results]:
        if block["type"] == "document":
            assert f"[Document: {block['title']} (PDF" in text
    for entry in [wire["conversationState"]["currentMessage"], *wire["conversationState"].get("history", [])]:
        for image in entry.get("userInputMessage", {}).get("images", []):
            data = image["source"]["bytes"]
            assert len(data) <= MAX_BASE64_CHARS
            with Image.open(io.BytesIO(base64.b64decode(data))) as decoded:
                assert max(decoded.size) <= MAX_LONG_EDGE
                assert decoded.format == image["format"].upper()


def json_text(wire: dict[str, Any]) -> str:
    return json.dumps(wire, ensure_ascii=False).replace("\\n", "\n")
