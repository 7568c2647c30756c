"""The simulator records what a chat request brought: texts, and images with their sizes."""

from __future__ import annotations

import base64
import io

from PIL import Image
from sim_helpers import SimClient, rich_request, simple_request, tool_result, user_msg

from kiro_sim.received import received, sniff_format


def _png(width: int, height: int) -> str:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


async def test_last_request_reports_texts_and_image_sizes(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    body = rich_request()
    png = _png(1568, 1176)
    body["conversationState"]["currentMessage"]["userInputMessage"]["images"] = [
        {"format": "png", "source": {"bytes": png}}
    ]
    response = await sim.chat(body, token)
    assert response.status_code == 200
    got = (await sim.http.get("/_sim/accounts/a1/last-request")).json()["received"]
    assert got["current_text"] == "Here is the weather."
    assert got["tool_result_texts"] == ["18C, cloudy"]
    current, history = got["images"]
    assert current == {
        "where": "currentMessage",
        "format": "png",
        "sniffed": "png",
        "bytes": len(base64.b64decode(png)),
        "base64_chars": len(png),
        "width": 1568,
        "height": 1176,
    }
    assert history["where"] == "history[0]" and history["width"] is None  # a fake PNG header


def test_received_tolerates_malformed_bodies() -> None:
    assert received(None) == {"current_text": "", "tool_result_texts": [], "images": []}
    body = simple_request("x")
    body["conversationState"]["history"] = ["junk", user_msg("y", images=["junk", {"source": 3}])]
    body["conversationState"]["currentMessage"]["userInputMessage"]["userInputMessageContext"] = {
        "toolResults": [tool_result("t", "r"), "junk", {"content": "not a list"}]
    }
    assert received(body) == {"current_text": "x", "tool_result_texts": ["r"], "images": []}


def test_sniff_format() -> None:
    assert sniff_format(base64.b64decode(_png(1, 1))) == "png"
    assert sniff_format(b"\xff\xd8\xff\xe0") == "jpeg"
    assert sniff_format(b"GIF89a....") == "gif"
    assert sniff_format(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    assert sniff_format(b"BM") is None
