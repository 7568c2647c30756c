"""The AWS SSO-OIDC surface (`KIRO_OIDC_BASE_URL`), JSON with camelCase keys (kiro-protocol.md §9.3, §12.2).

- `POST /client/register` → `{clientId, clientSecret, clientIdIssuedAt, clientSecretExpiresAt}`
- `POST /device_authorization` → `{deviceCode, userCode, verificationUri, verificationUriComplete,
  expiresIn, interval}`; the URIs point at this simulator's `/device` page.
- `POST /token` with `grantType` `refresh_token` (IdC refresh) or
  `urn:ietf:params:oauth:grant-type:device_code` (device-flow poll).
- `GET /device`, `POST /device`: a tiny page to approve or deny a user code by hand (`make demo`);
  tests use `POST /_sim/device/approve` instead.

Errors are 400 `{"error", "error_description"}` with an `x-amzn-errortype` header.

Deliberately not here: device-flow state (`flows.py`), token bookkeeping (`store.py`).
"""

from __future__ import annotations

import html
import logging
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from kiro_sim.errors import oauth_error
from kiro_sim.flows import DevicePollError
from kiro_sim.routes.common import error_response, json_response, read_json
from kiro_sim.routes.refresh import redeem, token_body
from kiro_sim.simulator import Simulator
from kiro_sim.tokens import redact

logger = logging.getLogger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _error(error: str, description: str) -> Response:
    """An OIDC error; its `x-amzn-errortype` is the code in CamelCase (`invalid_grant` ->
    `InvalidGrantException`), as AWS SSO-OIDC names its exceptions."""
    exception = "".join(word.capitalize() for word in error.split("_")) + "Exception"
    return error_response(oauth_error(error, description, error_type=exception))


def _str(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    return value if isinstance(value, str) and value else None


def routes(sim: Simulator) -> list[Route]:
    async def register(request: Request) -> Response:
        doc = await read_json(request)
        if not isinstance(doc, dict) or not _str(doc, "clientName") or doc.get("clientType") != "public":
            return _error("invalid_request", "clientName and clientType=public are required")
        reg = sim.state.register_client(doc["clientName"])
        return json_response(
            {
                "clientId": reg.client_id,
                "clientSecret": reg.client_secret,
                "clientIdIssuedAt": int(reg.issued_at),
                "clientSecretExpiresAt": int(reg.expires_at),
            }
        )

    async def device_authorization(request: Request) -> Response:
        doc = await read_json(request)
        if not isinstance(doc, dict) or not _str(doc, "startUrl"):
            return _error("invalid_request", "clientId, clientSecret and startUrl are required")
        if not sim.state.client_ok(doc.get("clientId"), doc.get("clientSecret")):
            return _error("invalid_client", "Invalid client credentials")
        auth = sim.devices.start(doc["clientId"], doc["clientSecret"])
        base = sim.settings.public_url or str(request.base_url).rstrip("/")
        page = f"{base.rstrip('/')}/device"
        return json_response(
            {
                "deviceCode": auth.device_code,
                "userCode": auth.user_code,
                "verificationUri": page,
                "verificationUriComplete": f"{page}?user_code={auth.user_code}",
                "expiresIn": sim.settings.device_expires_in,
                "interval": auth.interval,
            }
        )

    async def token(request: Request) -> Response:
        state = sim.state
        state.stats.oidc_token_calls += 1
        doc = await read_json(request)
        if not isinstance(doc, dict):
            return _error("invalid_request", "JSON body required")
        grant = doc.get("grantType")
        if grant not in ("refresh_token", DEVICE_GRANT):
            return _error("unsupported_grant_type", f"Unsupported grant type {grant!r}")
        client_id = doc.get("clientId")
        if not state.client_ok(client_id, doc.get("clientSecret")):
            return _error("invalid_client", "Invalid client credentials")
        assert isinstance(client_id, str)
        if grant == DEVICE_GRANT:
            state.stats.device_polls += 1
            try:
                account, issued = sim.devices.poll(doc.get("deviceCode"), client_id)
            except DevicePollError as exc:
                return _error(exc.error, exc.description)
            logger.info("device flow completed account=%s", account.id)
        else:
            presented = doc.get("refreshToken")
            owner, fault = state.note_refresh(presented)
            if fault is not None:
                return error_response(fault)
            record = state.refresh_record(presented)
            if record is None or record.account.auth != "idc" or record.account.client_id != client_id:
                state.stats.reject("invalid_grant", owner.id if owner else None)
                logger.info(
                    "oidc refresh rejected token=%s", redact(presented if isinstance(presented, str) else "")
                )
                return _error("invalid_grant", "Invalid refresh token provided")
            account, issued = await redeem(state, record, presented, "oidc")
        return json_response(token_body(account, issued, tokenType="Bearer"))

    async def device_page(request: Request) -> Response:
        if request.method == "POST":
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            user_code = form.get("user_code", [""])[0]
            action = form.get("action", [""])[0]
            try:
                if action == "approve":
                    sim.devices.approve(user_code)
                else:
                    sim.devices.deny(user_code)
            except (KeyError, ValueError) as exc:
                return HTMLResponse(_page(user_code, f"Error: {exc}"), status_code=400)
            return HTMLResponse(_page(user_code, f"Code {user_code} {action}d. You can close this page."))
        return HTMLResponse(_page(request.query_params.get("user_code", ""), ""))

    return [
        Route("/client/register", register, methods=["POST"]),
        Route("/device_authorization", device_authorization, methods=["POST"]),
        Route("/token", token, methods=["POST"]),
        Route("/device", device_page, methods=["GET", "POST"]),
    ]


def _page(user_code: str, message: str) -> str:
    code = html.escape(user_code)
    note = f"<p><strong>{html.escape(message)}</strong></p>" if message else ""
    return (
        "<!doctype html><html><head><title>Kiro simulator: device login</title></head><body>"
        "<h1>Kiro simulator: authorize device</h1>"
        f"{note}"
        '<form method="post" action="/device">'
        f'<label>User code <input name="user_code" value="{code}"></label> '
        '<button name="action" value="approve">Approve</button> '
        '<button name="action" value="deny">Deny</button>'
        "</form></body></html>"
    )
