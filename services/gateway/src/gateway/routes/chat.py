"""`POST /v1/chat/completions` (OpenAI Chat Completions), through the one Anthropic path."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.deps import ClientKey, State, parse_as, read_json, resolve_model
from gateway.exchange import SESSION_HEADER, Front, answer, conversion_error
from kiroproto.convert import convert_openai_request
from kiroproto.errors import ConversionError
from kiroproto.openai.request import ChatCompletionRequest

router = APIRouter(dependencies=[ClientKey])


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, state: State) -> Response:
    started = time.perf_counter()
    req = parse_as(ChatCompletionRequest, await read_json(request))
    model = resolve_model(state, req.model)
    try:
        messages_req = convert_openai_request(req)
    except ConversionError as exc:
        raise conversion_error(exc) from exc
    include_usage = bool(req.stream_options and req.stream_options.include_usage)
    request.state.model = model.kiro_id
    request.state.stream = bool(req.stream)
    return await answer(
        state["upstreams"],
        Front("openai", "chat_completions", include_usage),
        messages_req,
        model,
        request_id=request.state.request_id,
        request_started=started,
        state=request.scope["state"],
        session_header=request.headers.get(SESSION_HEADER),
    )
