"""What the two chat routes share: read and prepare the body, note the model, answer.

`POST /v1/messages` and `POST /v1/chat/completions` differ only in how the body is prepared
(prepare.py: `prepare_messages` or `prepare_chat`, the latter through the one Anthropic path)
and in the answer's shape (`exchange.Front`).
"""

from __future__ import annotations

from functools import partial
from typing import Protocol

from fastapi import Request
from starlette.responses import Response

from gateway.bodies import prepare as prepare_body
from gateway.deps import GatewayState, mark_fallback, note_model
from gateway.errors import Flavour
from gateway.exchange import SESSION_HEADER, Front, answer
from gateway.prepare import Prepared
from gateway.record import record_of
from kiroproto.models import ModelMap


class PrepareChat(Protocol):
    """`prepare.prepare_messages` or `prepare.prepare_chat` (picklable: may run in a worker)."""

    def __call__(self, body: bytes, models: ModelMap, session_header: str | None = None) -> Prepared: ...


async def answer_chat(
    request: Request, state: GatewayState, prepare: PrepareChat, flavour: Flavour, route: str
) -> Response:
    record = record_of(request)
    models = state.catalogue.current
    fn = partial(prepare, session_header=request.headers.get(SESSION_HEADER))
    prepared = await prepare_body(request, state.bodies, state.offloader, models, fn)
    model = note_model(state, prepared.requested, prepared.model)
    record.model = model.kiro_id
    record.stream = prepared.stream
    response = await answer(
        state.upstreams,
        Front(flavour, route, prepared.include_usage),
        prepared,
        record=record,
        reporter=state.usage_reporter,
    )
    return mark_fallback(response, model)
