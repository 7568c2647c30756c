"""Anthropic's web search server tool end to end: anthropic SDK → gateway → Kiro's MCP endpoint
(simulator) → chat. The answer carries server_tool_use, web_search_tool_result and the model's
text, streaming and not; the simulator sees the MCP call; max_uses holds; MCP failures are
web_search_tool_result_error blocks; earlier search blocks in history are accepted; team usage
(`/api/usage`) counts the searches."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from kiro_testing.polling import apoll
from kiro_testing.pytest_plugin import Stacks
from kiro_testing.sim import Sim
from tests.integration.teams import ADMIN_TOKEN, MODEL, Teams, team_stack
from tests.integration.websearch_helpers import WEB_SEARCH_TOOL, mcp_queries, reset_stats

pytestmark = pytest.mark.integration

QUESTION = "What changed in Rust 1.90?"


@pytest.fixture(scope="module")
def stack(sim: Sim, module_stacks: Stacks) -> Iterator[Teams]:
    with team_stack(module_stacks, sim, accounts=1, gateways=1) as s:
        yield s


@pytest.fixture(scope="module")
def team_key(stack: Teams) -> tuple[str, str]:
    name = f"search-{uuid.uuid4().hex[:6]}"
    secret, _ = stack.create_key(name)
    return name, secret


@pytest.fixture
def claude(stack: Teams, team_key: tuple[str, str]) -> Iterator[anthropic.Anthropic]:
    reset_stats(stack.sim)
    with anthropic.Anthropic(
        base_url=stack.pool.gateway_url(), api_key=team_key[1], max_retries=0, timeout=60.0
    ) as client:
        yield client


def mcp_script(stack: Teams, *scripts: dict[str, Any]) -> None:
    stack.sim.script(account_id=stack.accounts[0]["id"], mode="queue", surface="mcp", script=list(scripts))


def ask(
    client: anthropic.Anthropic, *, stream: bool, tool: dict[str, Any] | None = None, **extra: Any
) -> Any:
    kwargs: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": QUESTION}],
        "tools": [tool or WEB_SEARCH_TOOL],
        **extra,
    }
    if stream:
        with client.messages.stream(**kwargs) as s:
            return s.get_final_message()
    return client.messages.create(**kwargs)


@pytest.mark.parametrize("stream", [False, True])
def test_search_blocks_usage_and_the_mcp_call(
    claude: anthropic.Anthropic, stack: Teams, stream: bool
) -> None:
    message = ask(claude, stream=stream)
    kinds = [block.type for block in message.content]
    assert kinds[:2] == ["server_tool_use", "web_search_tool_result"] and "text" in kinds[2:], kinds
    use, result = message.content[0], message.content[1]
    assert use.name == "web_search" and use.input == {"query": QUESTION} and use.id.startswith("srvtoolu_")
    assert result.tool_use_id == use.id
    assert [item.type for item in result.content] == ["web_search_result"] * 3
    first = result.content[0]
    assert first.url.startswith("https://example.com/") and first.title == f"Result 1 for {QUESTION}"
    assert first.encrypted_content == f"Simulated snippet 1 about {QUESTION}."
    assert first.page_age == "May 29, 2024"
    text = "".join(block.text for block in message.content if block.type == "text")
    assert "Web search results" in text  # the simulator echoes what the model was given
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == 1
    assert mcp_queries(stack.sim) == [QUESTION]
    seen = stack.sim.stats()["mcp_requests"][0]
    assert seen["headers"]["x-amzn-kiro-profile-arn"] == stack.accounts[0]["profile_arn"]


@pytest.mark.parametrize("stream", [False, True])
def test_max_uses_zero_searches_nothing(claude: anthropic.Anthropic, stack: Teams, stream: bool) -> None:
    message = ask(claude, stream=stream, tool={**WEB_SEARCH_TOOL, "max_uses": 0})
    assert message.content[1].type == "web_search_tool_result"
    assert message.content[1].content.type == "web_search_tool_result_error"
    assert message.content[1].content.error_code == "max_uses_exceeded"
    assert message.usage.server_tool_use is None or message.usage.server_tool_use.web_search_requests == 0
    assert mcp_queries(stack.sim) == []


def test_max_uses_one_searches_once(claude: anthropic.Anthropic, stack: Teams) -> None:
    message = ask(claude, stream=False, tool={**WEB_SEARCH_TOOL, "max_uses": 5})
    assert [b.type for b in message.content].count("server_tool_use") == 1
    assert len(mcp_queries(stack.sim)) == 1


@pytest.mark.parametrize(
    ("script", "code"),
    [
        ({"search_error": "rpc"}, "unavailable"),
        ({"search_error": "is_error"}, "unavailable"),
        ({"error": "capacity"}, "too_many_requests"),
        ({"error": "internal"}, "unavailable"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_mcp_errors_are_error_blocks(
    claude: anthropic.Anthropic, stack: Teams, stream: bool, script: dict[str, Any], code: str
) -> None:
    mcp_script(stack, script)
    message = ask(claude, stream=stream)
    result = message.content[1]
    assert result.type == "web_search_tool_result"
    assert result.content.type == "web_search_tool_result_error" and result.content.error_code == code
    assert any(block.type == "text" for block in message.content[2:])
    assert message.stop_reason == "end_turn"


def test_domains_filter_the_results(claude: anthropic.Anthropic, stack: Teams) -> None:
    hits = [
        {"title": "A", "url": "https://docs.rust-lang.org/a", "snippet": "a", "domain": "docs.rust-lang.org"},
        {"title": "B", "url": "https://spam.example/b", "snippet": "b", "domain": "spam.example"},
    ]
    mcp_script(stack, {"search_results": hits})
    message = ask(claude, stream=False, tool={**WEB_SEARCH_TOOL, "allowed_domains": ["rust-lang.org"]})
    assert [item.url for item in message.content[1].content] == ["https://docs.rust-lang.org/a"]


def test_unhonoured_options_are_named_in_a_header(stack: Teams, team_key: tuple[str, str]) -> None:
    tool = {**WEB_SEARCH_TOOL, "user_location": {"type": "approximate", "city": "Paris"}}
    body = {
        "model": MODEL,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": QUESTION}],
        "tools": [tool],
    }
    response = httpx.post(
        stack.pool.gateway_url() + "/v1/messages", json=body, headers={"x-api-key": team_key[1]}, timeout=60.0
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-kiro2api-ignored-options"] == "user_location"


def test_newer_tool_version_searches_too(claude: anthropic.Anthropic, stack: Teams) -> None:
    message = ask(claude, stream=True, tool={"type": "web_search_20260209", "name": "web_search"})
    assert message.content[0].type == "server_tool_use"
    assert len(mcp_queries(stack.sim)) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_history_with_earlier_search_blocks(claude: anthropic.Anthropic, stack: Teams, stream: bool) -> None:
    first = ask(claude, stream=False)
    earlier = [block.model_dump(exclude_none=True) for block in first.content]
    messages = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": earlier},
        {"role": "user", "content": "Thanks. Summarise the first result."},
    ]
    kwargs: dict[str, Any] = {"model": MODEL, "max_tokens": 128, "messages": messages}
    if stream:
        with claude.messages.stream(**kwargs) as s:
            answer = s.get_final_message()
    else:
        answer = claude.messages.create(**kwargs)
    assert answer.content[0].type == "text"
    body = stack.sim.account_stats(stack.accounts[0]["id"])["last_request"]
    history_text = str(body["conversationState"]["history"])
    assert "Result 1 for" in history_text and "searched for" in history_text


async def test_api_usage_counts_searches(
    claude: anthropic.Anthropic, stack: Teams, team_key: tuple[str, str]
) -> None:
    name = team_key[0]
    before = int(stack.usage(team=name)["totals"].get("web_search_requests", 0))
    ask(claude, stream=False)
    ask(claude, stream=True)

    def counted() -> dict[str, Any] | None:
        usage = stack.usage(team=name)
        return usage if usage["totals"].get("web_search_requests") == before + 2 else None

    usage = await apoll(counted, within=10.0, message="web_search_requests counted")
    assert any(row.get("web_search_requests", 0) > 0 for row in usage["rows"])
    csv = stack.admin.get("/api/usage", params={"team": name, "format": "csv"})
    assert "web_search_requests" in csv.text.splitlines()[0]


def test_metric_counts_searches(claude: anthropic.Anthropic, stack: Teams) -> None:
    ask(claude, stream=False)
    admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}  # /metrics on the public port needs the admin key
    metrics = httpx.get(stack.pool.gateway_url() + "/metrics", headers=admin, timeout=10.0).text
    assert 'gateway_web_search_requests_total{outcome="ok"}' in metrics


@pytest.mark.parametrize("stream", [False, True])
def test_openai_web_search_function_is_a_client_tool(
    stack: Teams, team_key: tuple[str, str], stream: bool
) -> None:
    reset_stats(stack.sim)
    function: Any = {
        "type": "function",
        "function": {
            "name": "web_search",
            "description": "Search the web.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}},
                "required": ["query"],
            },
        },
    }
    call = {"tool_calls": [{"name": "web_search", "input": {"query": "rust"}}]}
    messages: Any = [{"role": "user", "content": f"Look it up. <<sim:{json.dumps(call)}>>"}]
    with openai.OpenAI(
        base_url=stack.pool.gateway_url() + "/v1", api_key=team_key[1], max_retries=0, timeout=60.0
    ) as client:
        if stream:
            calls: dict[int, dict[str, str]] = {}
            for chunk in client.chat.completions.create(
                model=MODEL, messages=messages, tools=[function], stream=True
            ):
                for delta in (chunk.choices[0].delta.tool_calls or ()) if chunk.choices else ():
                    entry = calls.setdefault(delta.index, {"name": "", "arguments": ""})
                    if delta.function and delta.function.name:
                        entry["name"] = delta.function.name
                    if delta.function and delta.function.arguments:
                        entry["arguments"] += delta.function.arguments
            found = [(c["name"], json.loads(c["arguments"])) for c in calls.values()]
        else:
            completion = client.chat.completions.create(model=MODEL, messages=messages, tools=[function])
            found = [
                (c.function.name, json.loads(c.function.arguments))
                for c in completion.choices[0].message.tool_calls or ()
                if c.type == "function"
            ]
    assert found == [("web_search", {"query": "rust"})]
    assert mcp_queries(stack.sim) == []  # the gateway never searches on the OpenAI route
