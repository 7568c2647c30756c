"""Helpers for the simulator's tests: a valid request builder, frame decoding, a fake clock."""

from __future__ import annotations

import base64
import copy
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from kiro_testing.sim import AsyncSimControl
from kiroproto.eventstream import EventStreamDecoder, Message

SOCIAL_ARN = "arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK"
PNG_1PX = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def tool_spec(name: str, description: str = "A tool.") -> dict[str, Any]:
    return {
        "toolSpecification": {
            "name": name,
            "description": description,
            "inputSchema": {
                "json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": []}
            },
        }
    }


def user_msg(content: str, **extra: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"content": content, "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"}
    msg.update(extra)
    return {"userInputMessage": msg}


def assistant_msg(content: str, tool_uses: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"content": content}
    if tool_uses is not None:
        msg["toolUses"] = tool_uses
    return {"assistantResponseMessage": msg}


def tool_result(use_id: str, text: str = "18C, cloudy", status: str = "success") -> dict[str, Any]:
    return {"toolUseId": use_id, "content": [{"text": text}], "status": status}


def rich_request(profile_arn: str | None = SOCIAL_ARN) -> dict[str, Any]:
    """A request that exercises most rules and passes them all: a system pair with an image,
    a tool call in history answered by the current message, two declared tools."""
    body: dict[str, Any] = {
        "conversationState": {
            "agentContinuationId": str(uuid.uuid4()),
            "agentTaskType": "vibe",
            "chatTriggerType": "MANUAL",
            "conversationId": str(uuid.uuid4()),
            "currentMessage": {
                "userInputMessage": {
                    "content": "Here is the weather.",
                    "modelId": "claude-sonnet-4.5",
                    "origin": "AI_EDITOR",
                    "userInputMessageContext": {
                        "tools": [tool_spec("get_weather"), tool_spec("read_file")],
                        "toolResults": [tool_result("tooluse_A")],
                    },
                }
            },
            "history": [
                user_msg("You are helpful.", images=[{"format": "png", "source": {"bytes": PNG_1PX}}]),
                assistant_msg("I will follow these instructions."),
                user_msg("What is the weather in Paris?"),
                assistant_msg(
                    " ", [{"toolUseId": "tooluse_A", "name": "get_weather", "input": {"city": "Paris"}}]
                ),
            ],
        }
    }
    if profile_arn is not None:
        body["profileArn"] = profile_arn
    return body


def simple_request(content: str = "Hello", model: str = "claude-sonnet-4.5", **extra: Any) -> dict[str, Any]:
    """A single-turn request; `extra` goes into userInputMessageContext (e.g. tools=[...])."""
    msg: dict[str, Any] = {"content": content, "modelId": model, "origin": "AI_EDITOR"}
    if extra:
        msg["userInputMessageContext"] = extra
    return {
        "conversationState": {
            "chatTriggerType": "MANUAL",
            "conversationId": str(uuid.uuid4()),
            "currentMessage": {"userInputMessage": msg},
        },
        "profileArn": SOCIAL_ARN,
    }


def clone(body: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(body)


def decode(data: bytes) -> list[Message]:
    decoder = EventStreamDecoder()
    decoder.feed(data)
    out = list(decoder)
    decoder.close()
    return out


@dataclass
class Decoded:
    text: str
    tools: dict[str, dict[str, Any]]  # id -> {"name", "input" (concatenated), "frames", "stopped"}
    events: list[str]  # event types (or "exception:<type>") in order
    payloads: list[bytes]
    messages: list[Message]

    def payload_of(self, event_type: str) -> Any:
        for message in self.messages:
            if message.event_type == event_type:
                return orjson.loads(message.payload)
        raise AssertionError(f"no {event_type}")


def interpret(messages: list[Message]) -> Decoded:
    text = ""
    tools: dict[str, dict[str, Any]] = {}
    events: list[str] = []
    for message in messages:
        if message.message_type == "exception":
            events.append(f"exception:{message.exception_type}")
            continue
        events.append(str(message.event_type))
        payload = orjson.loads(message.payload)
        if message.event_type == "assistantResponseEvent":
            text += payload["content"]
        elif message.event_type == "toolUseEvent":
            entry = tools.setdefault(
                payload["toolUseId"], {"name": payload["name"], "input": "", "stopped": 0}
            )
            if "input" in payload:
                entry["input"] += payload["input"]
            if payload.get("stop"):
                entry["stopped"] += 1
    return Decoded(text, tools, events, [m.payload for m in messages], messages)


class SimClient(AsyncSimControl):
    """The kit's control client on the in-process simulator, plus the chat surface."""

    async def account_with_token(self, **spec: Any) -> tuple[dict[str, Any], str]:
        account = await self.add_account(**spec)
        return account, await self.access_token(account["id"])

    async def chat(self, body: Any, token: str | None, headers: dict[str, str] | None = None) -> Any:
        all_headers = {"content-type": "application/json"}
        if token is not None:
            all_headers["authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        return await self.http.post("/generateAssistantResponse", content=content, headers=all_headers)
