"""The simulator's MCP web search: strict §14 shape, scripted results / errors / latency, stats."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sim_helpers import SOCIAL_ARN, SimClient

MCP_ID = "web_search_tooluse_" + "A1b2C3d4E5f6G7h8I9j0Kl" + "_1717000000000_abcd1234"


def call(query: Any = "rust async", **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": MCP_ID,
        "jsonrpc": "2.0",
        "method": "tools/call",
        "params": {"name": "web_search", "arguments": {"query": query}},
    }
    doc.update(changes)
    return doc


async def _token(sim: SimClient) -> dict[str, str]:
    _, token = await sim.account_with_token(id="a1")
    return {"authorization": f"Bearer {token}", "x-amzn-kiro-profile-arn": SOCIAL_ARN}


@pytest.mark.parametrize(
    ("doc", "header_changes"),
    [
        (call(id="web_search_tooluse_short"), {}),
        (call(id="anything"), {}),
        (call(jsonrpc="1.0"), {}),
        (call(method="tools/run"), {}),
        (call(query=""), {}),
        (call(query="x" * 201), {}),
        (call(query=5), {}),
        (call(params={"name": "web_search", "arguments": {"query": "q", "count": 3}}), {}),
        (call(params={"name": "web_search", "arguments": {"query": "q"}, "extra": 1}), {}),
        (call(), {"x-amzn-kiro-profile-arn": None}),
        (call(), {"x-amzn-kiro-agent-mode": "vibe"}),
        (call(), {"x-amzn-codewhisperer-optout": "true"}),
    ],
)
async def test_mcp_refuses_what_the_reference_does_not_show(
    sim: SimClient, doc: dict[str, Any], header_changes: dict[str, str | None]
) -> None:
    headers: dict[str, str] = await _token(sim)
    for name, value in header_changes.items():
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    r = await sim.http.post("/mcp", json=doc, headers=headers)
    assert r.status_code == 400, r.text
    stats = (await sim.http.get("/_sim/stats")).json()
    assert stats["totals"]["rejections"]["mcp_request"] == 1
    # switched off, the same request is answered
    await sim.http.patch("/_sim/rules", json={"mcp_request": False})
    r = await sim.http.post("/mcp", json=doc, headers=headers)
    assert r.status_code == 200


async def test_mcp_wrong_profile_arn_is_403(sim: SimClient) -> None:
    headers = await _token(sim)
    headers["x-amzn-kiro-profile-arn"] = SOCIAL_ARN + "x"
    r = await sim.http.post("/mcp", json=call(), headers=headers)
    assert r.status_code == 403


async def test_mcp_records_calls_in_stats(sim: SimClient) -> None:
    headers = await _token(sim)
    r = await sim.http.post("/mcp", json=call("kiro gateway"), headers=headers)
    assert r.status_code == 200
    stats = (await sim.http.get("/_sim/stats")).json()
    [seen] = stats["mcp_requests"]
    assert seen["account_id"] == "a1"
    assert seen["body"]["params"]["arguments"]["query"] == "kiro gateway"
    assert seen["headers"]["authorization"] == "<redacted>"
    assert seen["headers"]["x-amzn-kiro-profile-arn"] == SOCIAL_ARN
    assert stats["accounts"]["a1"]["mcp_calls"] == 1


async def test_mcp_scripted_results_errors_and_latency(sim: SimClient) -> None:
    headers = await _token(sim)
    hits = [{"title": "T", "url": "https://docs.example.org/a", "snippet": "S", "publishedDate": 1}]
    scripts = [
        {"search_results": hits},
        {"search_error": "rpc"},
        {"search_error": "is_error"},
        {"error": "capacity"},
        {"first_byte_delay": 0.3},
    ]
    r = await sim.http.post(
        "/_sim/scripts", json={"account_id": "a1", "mode": "queue", "surface": "mcp", "script": scripts}
    )
    assert r.status_code < 300, r.text
    first = (await sim.http.post("/mcp", json=call(), headers=headers)).json()
    assert json.loads(first["result"]["content"][0]["text"])["results"] == hits
    assert (await sim.http.post("/mcp", json=call(), headers=headers)).json()["error"]["code"] == -32603
    assert (await sim.http.post("/mcp", json=call(), headers=headers)).json()["result"]["isError"] is True
    assert (await sim.http.post("/mcp", json=call(), headers=headers)).status_code == 429
    started = time.monotonic()
    slow = await sim.http.post("/mcp", json=call(), headers=headers)
    assert slow.status_code == 200 and time.monotonic() - started >= 0.3
