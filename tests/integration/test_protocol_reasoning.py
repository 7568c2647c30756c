"""End to end, both SDKs, streaming and not: reasoning as data where the serving account's
catalogue gives the model an `additionalModelRequestFieldsSchema` (kiro-protocol.md §19.5), the
tag method elsewhere (§4.11, §7), and the `THINKING_SIGNATURE_INVALID` retry (§19.3). The
simulator validates the fields strictly against its own schemas (kiro_sim/reasoning.py).

The broker is a stand-in that leases one simulator account with its catalogue entry
(`reasoning_stack.py`); everything else is the real gateway and the real simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic
import openai
import pytest

from kiro_sim.reasoning import signature_of
from kiro_testing.sim import Sim
from kiro_testing.stack import CLIENT_TOKEN
from tests.integration.reasoning_stack import NEW_MODELS, CatalogueBroker, SimAccount, gateway

pytestmark = pytest.mark.integration

SONNET_5 = "claude-sonnet-5"


@pytest.fixture(scope="module")
def accounts(sim: Sim) -> dict[str, SimAccount]:
    return {
        "new": SimAccount.create(sim, models=NEW_MODELS, request_fields_schemas=True),
        "classic": SimAccount.create(sim, models=NEW_MODELS),
    }


@pytest.fixture
async def clients(
    sim: Sim,
) -> AsyncIterator[tuple[CatalogueBroker, anthropic.AsyncAnthropic, openai.AsyncOpenAI]]:
    broker = CatalogueBroker()
    async with gateway(sim, broker) as url:
        claude = anthropic.AsyncAnthropic(base_url=url, api_key=CLIENT_TOKEN, max_retries=0)
        oai = openai.AsyncOpenAI(base_url=url + "/v1", api_key=CLIENT_TOKEN, max_retries=0)
        yield broker, claude, oai
        await claude.close()
        await oai.close()


def last_body(sim: Sim, account: SimAccount) -> dict[str, Any]:
    body: dict[str, Any] = sim.last_request(account.id)["body"]
    return body


async def claude_message(
    claude: anthropic.AsyncAnthropic, stream: bool, **kw: Any
) -> anthropic.types.Message:
    kw.setdefault("model", SONNET_5)
    kw.setdefault("max_tokens", 2048)
    if stream:
        async with claude.messages.stream(**kw) as s:
            return await s.get_final_message()
    message: anthropic.types.Message = await claude.messages.create(**kw)
    return message


async def oai_answer(oai: openai.AsyncOpenAI, stream: bool, **kw: Any) -> tuple[str, str]:
    """(content, reasoning_content) of one chat completion."""
    kw.setdefault("model", SONNET_5)
    if not stream:
        completion = await oai.chat.completions.create(**kw)
        message = completion.choices[0].message
        return message.content or "", getattr(message, "reasoning_content", None) or ""
    content, reasoning = "", ""
    async for chunk in await oai.chat.completions.create(stream=True, **kw):
        for choice in chunk.choices:
            content += choice.delta.content or ""
            reasoning += getattr(choice.delta, "reasoning_content", None) or ""
    return content, reasoning


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_thinking_as_data_with_signed_thinking_blocks(
    sim: Sim, accounts: dict[str, SimAccount], clients: Any, stream: bool
) -> None:
    broker, claude, _ = clients
    broker.account = accounts["new"]
    message = await claude_message(
        claude,
        stream,
        thinking={"type": "enabled", "budget_tokens": 3000},
        messages=[{"role": "user", "content": "Why is the sky blue?"}],
    )
    sent = last_body(sim, accounts["new"])
    assert sent["additionalModelRequestFields"] == {"thinking": {"type": "adaptive"}, "max_tokens": 2048}
    assert "<thinking_mode>" not in str(sent["conversationState"])
    thinking = [b for b in message.content if b.type == "thinking"]
    assert len(thinking) == 1 and thinking[0].thinking
    assert thinking[0].signature == signature_of(thinking[0].thinking)
    assert message.content[-1].type == "text" and message.content[-1].text == "Echo: Why is the sky blue?"


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_reasoning_effort_as_data(
    sim: Sim, accounts: dict[str, SimAccount], clients: Any, stream: bool
) -> None:
    broker, _, oai = clients
    broker.account = accounts["new"]
    content, reasoning = await oai_answer(
        oai, stream, reasoning_effort="low", max_tokens=50, messages=[{"role": "user", "content": "hello"}]
    )
    fields = last_body(sim, accounts["new"])["additionalModelRequestFields"]
    assert fields == {
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "low"},
        "max_tokens": 1024,
    }
    assert content == "Echo: hello" and reasoning


@pytest.mark.parametrize("stream", [False, True])
async def test_classic_account_keeps_the_tags(
    sim: Sim, accounts: dict[str, SimAccount], clients: Any, stream: bool
) -> None:
    broker, claude, oai = clients
    broker.account = accounts["classic"]
    message = await claude_message(
        claude,
        stream,
        thinking={"type": "enabled", "budget_tokens": 3000},
        messages=[{"role": "user", "content": "hi"}],
    )
    sent = last_body(sim, accounts["classic"])
    assert "additionalModelRequestFields" not in sent
    first = sent["conversationState"]["history"][0]["userInputMessage"]["content"]
    assert first.startswith("<thinking_mode>enabled</thinking_mode><max_thinking_length>3000")
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].signature == ""  # type: ignore[union-attr]
    content, reasoning = await oai_answer(
        oai, stream, reasoning_effort="high", messages=[{"role": "user", "content": "x"}]
    )
    assert "additionalModelRequestFields" not in last_body(sim, accounts["classic"])
    assert content == "Echo: x" and reasoning


@pytest.mark.parametrize("stream", [False, True])
async def test_fields_only_where_the_schema_allows_them(
    sim: Sim, accounts: dict[str, SimAccount], clients: Any, stream: bool
) -> None:
    broker, claude, oai = clients
    broker.account = accounts["new"]
    # A model without a schema on the new host: no fields, the tags stay.
    message = await claude_message(
        claude,
        stream,
        model="claude-sonnet-4-6",
        thinking={"type": "adaptive"},
        messages=[{"role": "user", "content": "plain"}],
    )
    sent = last_body(sim, accounts["new"])
    assert "additionalModelRequestFields" not in sent
    assert sent["conversationState"]["history"][0]["userInputMessage"]["content"].startswith(
        "<thinking_mode>adaptive"
    )
    assert message.content[-1].text == "Echo: plain"  # type: ignore[union-attr]
    # No thinking asked: only the output limit, and no thinking comes back.
    content, reasoning = await oai_answer(
        oai, stream, max_tokens=100_000, messages=[{"role": "user", "content": "y"}]
    )
    assert last_body(sim, accounts["new"])["additionalModelRequestFields"] == {"max_tokens": 64000}
    assert (content, reasoning) == ("Echo: y", "")


@pytest.mark.parametrize("stream", [False, True])
async def test_signature_rejection_is_answered_after_one_retry(
    sim: Sim, accounts: dict[str, SimAccount], clients: Any, stream: bool
) -> None:
    broker, claude, _ = clients
    broker.account = accounts["new"]
    before = sim.stats()["totals"]["rejections"].get("thinking_signature", 0)
    history: list[Any] = [
        {"role": "user", "content": "earlier"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "an old thought", "signature": "forged-signature"},
                {"type": "text", "text": "earlier answer"},
            ],
        },
        {"role": "user", "content": "and now?"},
    ]
    message = await claude_message(claude, stream, thinking={"type": "adaptive"}, messages=history)
    assert message.content[-1].text == "Echo: and now?"  # type: ignore[union-attr]
    assert sim.stats()["totals"]["rejections"]["thinking_signature"] == before + 1
    retried = last_body(sim, accounts["new"])["conversationState"]["history"]
    assert "reasoningContent" not in str(retried) and "an old thought" not in str(retried)
    assert broker.outcomes[-2:] == ["bad_request", "success"]
    # A valid signature (one the simulator issued) goes through at once, as reasoningContent.
    good = [
        *history[:1],
        {
            **history[1],
            "content": [
                {**history[1]["content"][0], "signature": signature_of("an old thought")},
                history[1]["content"][1],
            ],
        },
        history[2],
    ]
    await claude_message(claude, stream, thinking={"type": "adaptive"}, messages=good)
    assert sim.stats()["totals"]["rejections"]["thinking_signature"] == before + 1
    sent = last_body(sim, accounts["new"])["conversationState"]["history"]
    assert (
        sent[1]["assistantResponseMessage"]["reasoningContent"]["reasoningText"]["text"] == "an old thought"
    )
