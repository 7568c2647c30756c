"""What the two chat routes share: read and prepare the body, note the model, answer.

`POST /v1/messages` and `POST /v1/chat/completions` differ only in how the body is prepared
(prepare.py: `prepare_messages` or `prepare_chat`, the latter through the one Anthropic path)
and in the answer's shape (`exchange.Front`).

Each is a bare ASGI app (`ChatEndpoint`), declared once in `CHAT_ROUTES`: `lifecycle.Lifecycle`
sends an exact `POST` of either path straight to it, past Starlette's exception layer, the router
and FastAPI's dependency solving (a third of the gateway's CPU per request in the profile). The
router has no route of its own for them: another method on those paths goes on to the forwarder
(routes/forward.py), as it did when the router held them.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from types import MappingProxyType
from typing import Protocol

from fastapi import Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway import prepare
from gateway.bodies import prepare as prepare_body
from gateway.deps import GatewayState, mark_fallback, note_model, require_client_key
from gateway.errors import Flavour, GatewayError, render_error
from gateway.exchange import SESSION_HEADER, Front, answer
from gateway.prepare import Prepared
from gateway.record import record_of
from kiro_service.deps import service_state
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


class ChatEndpoint:
    """A chat route as a bare ASGI app: the client key, then `answer_chat`; a `GatewayError`
    becomes the client's error shape and a client gone while sending becomes 499, as the app's
    exception handlers do (anything else goes up to the lifecycle's error boundary)."""

    __slots__ = ("flavour", "prepare", "route")

    def __init__(self, prepare: PrepareChat, flavour: Flavour, route: str) -> None:
        self.prepare = prepare
        self.flavour = flavour
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response: Response
        try:
            state = service_state(request, GatewayState)
            await require_client_key(request, state)
            response = await answer_chat(request, state, self.prepare, self.flavour, self.route)
        except GatewayError as exc:
            response = render_error(exc, self.flavour, record_of(request).request_id)
        except ClientDisconnect:
            record_of(request).disconnected = True
            response = Response(status_code=499)
        await response(scope, receive, send)


CHAT_ROUTES: Mapping[str, ChatEndpoint] = MappingProxyType(
    {
        "/v1/messages": ChatEndpoint(prepare.prepare_messages, "anthropic", "messages"),
        "/v1/chat/completions": ChatEndpoint(prepare.prepare_chat, "openai", "chat_completions"),
    }
)
"""Path -> endpoint of the two chat routes (both `POST`)."""
