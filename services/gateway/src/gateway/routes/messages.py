"""`POST /v1/messages/count_tokens` (Anthropic Messages API; `POST /v1/messages` is in answer.py).

It reads and prepares its body through bodies.prepare: parsed, validated, converted and
counted inline when small, in worker processes when large (prepare.py).
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway import prepare
from gateway.bodies import prepare as prepare_body
from gateway.deps import ClientKey, State, note_model
from gateway.limits import admission_for, count_admission
from gateway.record import record_of

router = APIRouter(dependencies=[ClientKey])


@router.post("/v1/messages/count_tokens")
async def count_tokens(request: Request, state: State) -> Response:
    record = record_of(request)
    key = record.key
    ticket = count_admission(key)
    if ticket is not None:  # a team key: the request counts in its requests per minute, body unread
        record.ticket = ticket
        await state.broker.admit(record.request_id, ticket)
    models = state.catalogue.current
    counted = await prepare_body(request, state.bodies, state.offloader, models, prepare.count_tokens)
    model = note_model(state, counted.requested, counted.model)
    record.model = model.kiro_id
    admission_for(key, counted.requested, model)  # the key's model allow-list (403)
    return Response(orjson.dumps({"input_tokens": counted.input_tokens}), media_type="application/json")
