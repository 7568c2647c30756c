"""`POST /v1/messages` and `POST /v1/messages/count_tokens` (Anthropic Messages API)."""

from __future__ import annotations

import time

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.deps import ClientKey, State, parse_as, read_json, resolve_model
from gateway.exchange import Front, answer
from gateway.media.prepare import prepare_request
from kiroproto.anthropic.request import CountTokensRequest, MessagesRequest
from kiroproto.tokens import count_request_tokens

router = APIRouter(dependencies=[ClientKey])

MESSAGES = Front("anthropic", "messages")


@router.post("/v1/messages")
async def create_message(request: Request, state: State) -> Response:
    started = time.perf_counter()
    req = parse_as(MessagesRequest, await read_json(request))
    model = resolve_model(state, req.model)
    request.state.model = model.kiro_id
    request.state.stream = req.stream
    return await answer(
        state["upstreams"],
        MESSAGES,
        req,
        model,
        request_id=request.state.request_id,
        request_started=started,
        state=request.scope["state"],
    )


@router.post("/v1/messages/count_tokens")
async def count_tokens(request: Request, state: State) -> Response:
    req = parse_as(CountTokensRequest, await read_json(request))
    request.state.model = resolve_model(state, req.model).kiro_id
    req = await prepare_request(req, state["offloader"], state["media_cache"])  # count what documents become
    return Response(orjson.dumps({"input_tokens": count_request_tokens(req)}), media_type="application/json")
