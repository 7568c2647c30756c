"""End to end with the official SDKs: anthropic and openai clients → gateway → broker (NATS,
Redis) → the Kiro simulator. Replies are scripted per request with the simulator's directive."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any, cast

import anthropic
import openai
import pytest

from kiro_testing.pytest_plugin import Stacks
from kiro_testing.sim import Sim, credential
from kiro_testing.stack import CLIENT_TOKEN, Stack, StackConfig

pytestmark = pytest.mark.integration

MODEL = "claude-sonnet-4-6"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def say(script: dict[str, Any], text: str = "") -> str:
    return f"{text}<<sim:{json.dumps(script)}>>"


def tiny_png() -> str:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"\x00\xff\x00\x00"
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return base64.b64encode(png).decode()


@pytest.fixture(scope="module")
def pool(sim: Sim, module_stacks: Stacks) -> Stack:
    accounts = [sim.add_account(), sim.add_account()]
    return module_stacks(StackConfig(credentials=[credential(a) for a in accounts]), sim=sim)


# ------------------------------------------------------------------ anthropic


def test_anthropic_text_non_streaming(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model=MODEL, max_tokens=256, messages=[{"role": "user", "content": say({"text": "Hello from Kiro"})}]
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello from Kiro"
    assert message.stop_reason == "end_turn"
    assert message.model == MODEL
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_anthropic_stream_equals_non_streaming(claude: anthropic.Anthropic) -> None:
    script = {"text": "The same words, streamed or not. " * 5, "seed": 7}
    messages: Any = [{"role": "user", "content": say(script)}]
    whole = claude.messages.create(model=MODEL, max_tokens=256, messages=messages)
    with claude.messages.stream(model=MODEL, max_tokens=256, messages=messages) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1
    assert "".join(pieces) == whole.content[0].text  # type: ignore[union-attr]
    assert final.model_dump(exclude={"id"}) == whole.model_dump(exclude={"id"})


def test_anthropic_tool_use_round_trip(claude: anthropic.Anthropic) -> None:
    ask = say({"tool_calls": [{"name": "get_weather", "input": {"city": "Paris"}}]}, "Weather in Paris?")
    first = claude.messages.create(
        model=MODEL,
        max_tokens=256,
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        messages=[{"role": "user", "content": ask}],
    )
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather" and call.input == {"city": "Paris"}
    with claude.messages.stream(
        model=MODEL,
        max_tokens=256,
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        messages=[{"role": "user", "content": ask}],
    ) as stream:
        streamed = stream.get_final_message()
    assert next(b for b in streamed.content if b.type == "tool_use").input == {"city": "Paris"}
    answer = claude.messages.create(
        model=MODEL,
        max_tokens=256,
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": "18C, cloudy"},
                    {"type": "text", "text": say({"text": "It is 18C and cloudy in Paris."})},
                ],
            },
        ],
    )
    assert answer.stop_reason == "end_turn"
    assert answer.content[0].text == "It is 18C and cloudy in Paris."  # type: ignore[union-attr]


def test_anthropic_thinking(claude: anthropic.Anthropic) -> None:
    script = {"thinking": "Six times seven is forty-two.", "text": "42"}
    kwargs: Any = {
        "model": MODEL,
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": say(script, "What is 6*7?")}],
    }
    message = claude.messages.create(**kwargs)
    kinds = [b.type for b in message.content]
    assert kinds == ["thinking", "text"]
    assert "forty-two" in message.content[0].thinking
    assert message.content[1].text == "42"
    with claude.messages.stream(**kwargs) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == kinds
    assert "<thinking>" not in final.content[1].text  # type: ignore[union-attr]


def test_anthropic_image(claude: anthropic.Anthropic, sim: Sim) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": tiny_png()}}
    message = claude.messages.create(
        model=MODEL,
        max_tokens=64,
        messages=cast(
            Any,
            [{"role": "user", "content": [image, {"type": "text", "text": say({"text": "a red pixel"})}]}],
        ),
    )
    assert message.content[0].text == "a red pixel"  # type: ignore[union-attr]
    bodies = [a.get("last_request") for a in sim.stats()["accounts"].values()]
    assert any(b and "images" in json.dumps(b) for b in bodies)


def test_anthropic_count_tokens_and_models(claude: anthropic.Anthropic) -> None:
    counted = claude.messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": "Hello there " * 20}]
    )
    assert counted.input_tokens > 20
    models = list(claude.models.list())
    assert any(m.id == MODEL for m in models)


def test_anthropic_beta_path_and_headers(claude: anthropic.Anthropic) -> None:
    message = claude.beta.messages.create(
        model=MODEL,
        max_tokens=64,
        betas=["interleaved-thinking-2025-05-14"],
        messages=[{"role": "user", "content": say({"text": "beta ok"})}],
    )
    assert message.content[0].text == "beta ok"  # type: ignore[union-attr]


def test_anthropic_error_shapes(pool: Stack) -> None:
    with anthropic.Anthropic(base_url=pool.gateway_url(), api_key="wrong", max_retries=0) as bad:
        with pytest.raises(anthropic.AuthenticationError):
            bad.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "x"}])
    with anthropic.Anthropic(base_url=pool.gateway_url(), api_key=CLIENT_TOKEN, max_retries=0) as client:
        with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
            client.messages.create(
                model=MODEL, max_tokens=8, messages=[{"role": "user", "content": say({"error": "too_long"})}]
            )


# ------------------------------------------------------------------ openai


def test_openai_text_both_ways(oai: openai.OpenAI) -> None:
    messages: Any = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": say({"text": "Bonjour tout le monde"})},
    ]
    completion = oai.chat.completions.create(model=MODEL, messages=messages)
    assert completion.choices[0].message.content == "Bonjour tout le monde"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens > 0
    stream = oai.chat.completions.create(
        model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Bonjour tout le monde"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == completion.usage.prompt_tokens


def test_openai_tool_calls(oai: openai.OpenAI) -> None:
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather.",
                "parameters": WEATHER_TOOL["input_schema"],
            },
        }
    ]
    ask = say({"tool_calls": [{"name": "get_weather", "input": {"city": "Tōkyō", "n": [1, 2]}}]}, "Weather?")
    completion = oai.chat.completions.create(
        model=MODEL, tools=tools, messages=[{"role": "user", "content": ask}]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert json.loads(call.function.arguments) == {"city": "Tōkyō", "n": [1, 2]}  # type: ignore[union-attr]
    arguments = ""
    for chunk in oai.chat.completions.create(
        model=MODEL, tools=tools, stream=True, messages=[{"role": "user", "content": ask}]
    ):
        for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            arguments += delta.function.arguments or "" if delta.function else ""
    assert json.loads(arguments) == {"city": "Tōkyō", "n": [1, 2]}
    follow = oai.chat.completions.create(
        model=MODEL,
        tools=tools,
        messages=[
            {"role": "user", "content": "Weather?"},
            choice.message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
            {"role": "user", "content": say({"text": "It is sunny."})},
        ],
    )
    assert follow.choices[0].message.content == "It is sunny."


def test_openai_image_and_models(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64," + tiny_png()}},
                    {"type": "text", "text": say({"text": "pixel"})},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content == "pixel"
    assert any(m.id == MODEL for m in oai.models.list())


def test_openai_errors(pool: Stack) -> None:
    with openai.OpenAI(base_url=pool.gateway_url() + "/v1", api_key="nope", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError):
            bad.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    with openai.OpenAI(base_url=pool.gateway_url() + "/v1", api_key=CLIENT_TOKEN, max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": say({"error": "too_long"})}]
            )
        assert info.value.type == "context_length_exceeded"
