"""The page (`/`), sign-in (`POST /api/login`) and sign-out (`POST /api/logout`)."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dashboard.deps import AdminWrite, AppState
from dashboard.views import dashboard_page, login_page, safe_next
from kiro_admin import COOKIE_NAME, read_form

router = APIRouter()
log = logging.getLogger(__name__)


def _secure(request: Request, configured: bool | None) -> bool:
    if configured is not None:
        return configured
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, state: AppState) -> HTMLResponse:
    principal = await state.admin.auth.identify(request)
    if principal is None:
        return HTMLResponse(login_page(request.query_params.get("next", "/")))
    hub = state.hub
    traffic = hub.latest_traffic or await hub.traffic_snapshot()
    pool = await hub.pool_view()
    initial = state.redactor.scrub(
        {
            "pool": pool.model_dump(mode="json"),
            "traffic": traffic.model_dump(mode="json"),
            "server_time": time.time(),
        }
    )
    html = dashboard_page(
        csrf_token=principal.csrf_token, oauth_enabled=state.settings.oauth_enabled, initial=initial
    )
    return HTMLResponse(html)


@router.post("/api/login")
async def login(request: Request, state: AppState) -> Response:
    form = await read_form(request)
    next_path = safe_next(form.get("next"))
    address = state.proxies.client_address(
        request.client.host if request.client else None, request.headers.getlist("x-forwarded-for")
    )
    limiter = state.login_limiter
    wait = await limiter.retry_after(address)
    if wait is not None:
        state.metrics.login_attempts.labels("limited").inc()
        log.warning("admin sign-in refused: too many failed attempts from one address")
        return HTMLResponse(
            login_page(next_path, f"Too many failed sign-in attempts. Try again in {wait} s."),
            status_code=429,
            headers={"retry-after": str(wait)},
        )
    cookie = await state.admin.auth.login(form.get("token"))
    if cookie is None:
        await limiter.failed(address)
        state.metrics.login_attempts.labels("refused").inc()
        log.warning("admin sign-in refused: wrong token")
        return HTMLResponse(login_page(next_path, "Wrong admin token."), status_code=401)
    state.metrics.login_attempts.labels("ok").inc()
    log.info("admin signed in")
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        max_age=int(state.settings.dashboard_session_ttl),
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request, state.settings.dashboard_cookie_secure),
    )
    return response


@router.post("/api/logout")
async def logout(request: Request, state: AppState, principal: AdminWrite) -> Response:
    await state.admin.auth.logout(principal)
    log.info("admin signed out")
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(
        COOKIE_NAME,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request, state.settings.dashboard_cookie_secure),
    )
    return response
