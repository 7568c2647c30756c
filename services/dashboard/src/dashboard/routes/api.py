"""JSON API: `/api/tokens`, `/api/pool`, `/api/traffic` and the credential actions."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from dashboard.deps import Admin, AdminWrite, AppState, ask
from dashboard.tokens_api import tokens_payload
from kiro_admin import read_form
from kiro_service.bus import BusUnavailable
from kiroproto.bus import CREDENTIAL_ACTION, CredentialAction, CredentialActionKind

router = APIRouter(prefix="/api")
log = logging.getLogger(__name__)

# URL spelling -> bus action
_ACTIONS: dict[str, CredentialActionKind] = {
    "disable": "disable",
    "enable": "enable",
    "refresh": "refresh",
    "check-usage": "check_usage",
    "check_usage": "check_usage",
    "delete": "delete",
    "priority": "set_priority",
    "set-priority": "set_priority",
    "set_priority": "set_priority",
}
ActionName = Literal[
    "disable",
    "enable",
    "refresh",
    "check-usage",
    "check_usage",
    "delete",
    "priority",
    "set-priority",
    "set_priority",
]
CredentialId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@\-]+$")]


class PriorityBody(BaseModel):
    priority: int = Field(ge=-1_000_000, le=1_000_000)


def _json(state: AppState, payload: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(state.redactor.scrub(payload), status_code=status_code)


@router.get("/tokens")
async def tokens(state: AppState, _admin: Admin) -> JSONResponse:
    hub = state.hub
    traffic = await hub.traffic_snapshot()
    view = await hub.pool_view()
    if view.pool is None:
        raise BusUnavailable(view.error or "token-broker unavailable")
    return _json(state, tokens_payload(view.pool, traffic.credentials, time.time()))


@router.get("/pool")
async def pool(state: AppState, _admin: Admin) -> JSONResponse:
    return _json(state, (await state.hub.pool_view()).model_dump(mode="json"))


@router.get("/traffic")
async def traffic(state: AppState, _admin: Admin) -> JSONResponse:
    return _json(state, (await state.hub.traffic_snapshot()).model_dump(mode="json"))


async def _priority(request: Request) -> int | None:
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.body()
        return PriorityBody.model_validate_json(body or b"{}").priority if body else None
    value = (await read_form(request)).get("priority")
    return PriorityBody(priority=int(value)).priority if value not in (None, "") else None


@router.post("/credentials/{credential_id}/{action}")
async def credential_action(
    request: Request, state: AppState, principal: AdminWrite, credential_id: CredentialId, action: ActionName
) -> JSONResponse:
    kind = _ACTIONS[action]
    priority: int | None = None
    if kind == "set_priority":
        try:
            priority = await _priority(request)
        except ValueError:
            return _json(state, {"ok": False, "message": "priority must be an integer"}, 400)
        if priority is None:
            return _json(state, {"ok": False, "message": "priority is required"}, 400)
    ack = await ask(
        state,
        CREDENTIAL_ACTION,
        CredentialAction(credential_id=credential_id, action=kind, priority=priority),
    )
    state.metrics.broker_calls.labels(kind, "ok" if ack.ok else "refused").inc()
    log.info(
        "credential action",
        extra={"credential_id": credential_id, "action": kind, "ok": ack.ok, "via": principal.via},
    )
    state.hub.request_refresh()
    return _json(state, {"ok": ack.ok, "message": ack.message}, 200 if ack.ok else 409)


@router.delete("/credentials/{credential_id}")
async def credential_delete(
    request: Request, state: AppState, principal: AdminWrite, credential_id: CredentialId
) -> JSONResponse:
    return await credential_action(request, state, principal, credential_id, "delete")
