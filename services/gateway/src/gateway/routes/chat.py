"""`POST /v1/chat/completions` (OpenAI Chat Completions), through the one Anthropic path."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway import prepare
from gateway.deps import ClientKey, State
from gateway.routes.answer import answer_chat

router = APIRouter(dependencies=[ClientKey])


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, state: State) -> Response:
    return await answer_chat(request, state, prepare.prepare_chat, "openai", "chat_completions")
