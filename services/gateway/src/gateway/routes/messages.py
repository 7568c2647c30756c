"""`POST /v1/messages` and `POST /v1/messages/count_tokens` (Anthropic Messages API).

Both read and prepare their body through bodies.prepare: parsed, validated, converted and
counted inline when small, in worker processes when large (prepare.py).
"""

from __future__ import annotations

import time
from functools import partial
from typing import cast

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway import prepare
from gateway.bodies import prepare as prepare_body
from gateway.deps import ClientKey, State, mark_fallback, note_model
from gateway.exchange import SESSION_HEADER, Front, answer
from gateway.limits import admission_for, count_admission
from kiroproto.bus import TeamKey

router = APIRouter(dependencies=[ClientKey])

MESSAGES = Front("anthropic", "messages")


@router.post("/v1/messages")
async def create_message(request: Request, state: State) -> Response:
    started = time.perf_counter()
    models = state.catalogue.current
    fn = partial(prepare.prepare_messages, session_header=request.headers.get(SESSION_HEADER))
    prepared = await prepare_body(request, state.bodies, state.offloader, models, fn)
    model = note_model(state, prepared.requested, prepared.model)
    request.state.model = model.kiro_id
    request.state.stream = prepared.stream
    response = await answer(
        state.upstreams,
        MESSAGES,
        prepared,
        request_id=request.state.request_id,
        request_started=started,
        state=request.scope["state"],
    )
    return mark_fallback(response, model)


@router.post("/v1/messages/count_tokens")
async def count_tokens(request: Request, state: State) -> Response:
    key = cast("TeamKey | None", getattr(request.state, "team_key", None))
    ticket = count_admission(key)
    if ticket is not None:  # a team key: the request counts in its requests per minute, body unread
        request.scope["state"]["team_ticket"] = ticket
        await state.broker.admit(request.state.request_id, ticket)
    models = state.catalogue.current
    counted = await prepare_body(request, state.bodies, state.offloader, models, prepare.count_tokens)
    model = note_model(state, counted.requested, counted.model)
    request.state.model = model.kiro_id
    admission_for(key, counted.requested, model)  # the key's model allow-list (403)
    return Response(orjson.dumps({"input_tokens": counted.input_tokens}), media_type="application/json")
