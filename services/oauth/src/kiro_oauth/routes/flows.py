"""`/oauth` (the page) and `/oauth/api/...` (the flows). Mounted only when `OAUTH_ENABLED`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from kiro_oauth.deps import AdminWrite, AppState
from kiro_oauth.views import accounts_page

router = APIRouter(prefix="/oauth")
FlowId = Annotated[str, Path(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class DeviceStart(_Body):
    kind: Literal["builder_id", "idc"] = "builder_id"
    start_url: str | None = Field(default=None, max_length=500)
    region: str | None = Field(default=None, max_length=40)


class SocialStart(_Body):
    idp: Literal["Google", "Github"]


class SocialComplete(_Body):
    redirect_url: str = Field(max_length=8192)


class ImportBody(_Body):
    credentials: str = Field(max_length=1024 * 1024)
    client_registration: str | None = Field(default=None, max_length=64 * 1024)


@router.get("", response_class=HTMLResponse)
async def page(request: Request, state: AppState) -> Response:
    principal = await state.admin.auth.identify(request)
    if principal is None:
        return RedirectResponse("/?next=/oauth", status_code=303)
    settings = state.settings
    return HTMLResponse(
        accounts_page(
            csrf_token=principal.csrf_token,
            builder_id_start_url=settings.oauth_builder_id_start_url,
            default_region=settings.kiro_region,
        )
    )


@router.post("/api/device/start")
async def device_start(
    state: AppState, _admin: AdminWrite, body: Annotated[DeviceStart, Body()]
) -> JSONResponse:
    return JSONResponse(await state.service.start_device(body.kind, body.start_url, body.region))


@router.post("/api/device/{flow_id}/poll")
async def device_poll(state: AppState, _admin: AdminWrite, flow_id: FlowId) -> JSONResponse:
    return JSONResponse(await state.service.poll_device(flow_id))


@router.post("/api/device/{flow_id}/cancel")
async def device_cancel(state: AppState, _admin: AdminWrite, flow_id: FlowId) -> JSONResponse:
    await state.service.cancel_device(flow_id)
    return JSONResponse({"ok": True})


@router.post("/api/social/start")
async def social_start(
    state: AppState, _admin: AdminWrite, body: Annotated[SocialStart, Body()]
) -> JSONResponse:
    return JSONResponse(await state.service.start_social(body.idp))


@router.post("/api/social/complete")
async def social_complete(
    state: AppState, _admin: AdminWrite, body: Annotated[SocialComplete, Body()]
) -> JSONResponse:
    outcome = await state.service.complete_social(body.redirect_url)
    return JSONResponse(outcome.model_dump())


@router.post("/api/import")
async def import_credentials(
    state: AppState, _admin: AdminWrite, body: Annotated[ImportBody, Body()]
) -> JSONResponse:
    result = await state.service.import_credentials(body.credentials, body.client_registration)
    return JSONResponse(result, status_code=200 if result["ok"] else 422)
