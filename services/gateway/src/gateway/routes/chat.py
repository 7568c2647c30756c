"""`POST /v1/chat/completions` (OpenAI Chat Completions), through the one Anthropic path."""

from __future__ import annotations

import time
from functools import partial

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway import prepare
from gateway.bodies import prepare as prepare_body
from gateway.deps import ClientKey, State, mark_fallback, note_model
from gateway.exchange import SESSION_HEADER, Front, answer

router = APIRouter(dependencies=[ClientKey])


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, state: State) -> Response:
    started = time.perf_counter()
    models = state.catalogue.current
    fn = partial(prepare.prepare_chat, session_header=request.headers.get(SESSION_HEADER))
    prepared = await prepare_body(request, state.bodies, state.offloader, models, fn)
    model = note_model(state, prepared.requested, prepared.model)
    request.state.model = model.kiro_id
    request.state.stream = prepared.stream
    response = await answer(
        state.upstreams,
        Front("openai", "chat_completions", prepared.include_usage),
        prepared,
        request_id=request.state.request_id,
        request_started=started,
        state=request.scope["state"],
    )
    return mark_fallback(response, model)
