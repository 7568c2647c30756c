"""The Kiro auth portal surface (`KIRO_AUTH_BASE_URL`): social refresh and social login.

- `POST /refreshToken` `{"refreshToken"}` → `{accessToken, refreshToken, profileArn, expiresIn}`
  (kiro-protocol.md §9.2); rotates the refresh token when the account says so; a revoked,
  unknown or rotated-away token → 400 `invalid_grant`.
- `GET /login?idp=&redirect_uri=&code_challenge=&code_challenge_method=S256&state=` → 302 to
  `redirect_uri?code=...&state=...` (§12.1; the user "logs in" at once).
- `POST /oauth/token` `{code, code_verifier, redirect_uri}` (snake_case) → tokens of a new
  social account (or of the account named by `POST /_sim/login/next`).

Deliberately not here: token bookkeeping (`store.py`) and the PKCE check (`flows.py`).
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from kiro_sim.errors import oauth_error
from kiro_sim.flows import LoginError
from kiro_sim.routes.common import error_response, json_response, read_json
from kiro_sim.routes.refresh import redeem, token_body
from kiro_sim.rules import Rule
from kiro_sim.simulator import Simulator
from kiro_sim.tokens import redact

logger = logging.getLogger(__name__)

KIRO_REDIRECT_URI = "kiro://kiro.kiroAgent/authenticate-success"
IDPS = frozenset({"Google", "Github"})
INVALID_GRANT = oauth_error(
    "invalid_grant", "Invalid refresh token provided", error_type="InvalidGrantException"
)


def routes(sim: Simulator) -> list[Route]:
    async def refresh_token(request: Request) -> Response:
        state = sim.state
        state.stats.totals.refresh_calls += 1
        doc = await read_json(request)
        presented = doc.get("refreshToken") if isinstance(doc, dict) else None
        if not isinstance(presented, str) or not presented:
            return error_response(oauth_error("invalid_request", "refreshToken is required"))
        owner, fault = state.note_refresh(presented)
        if fault is not None:
            return error_response(fault)
        record = state.refresh_record(presented)
        if record is None or record.account.auth != "social":
            state.stats.reject("invalid_grant", owner.id if owner else None)
            logger.info("social refresh rejected token=%s", redact(presented))
            return error_response(INVALID_GRANT)
        account, issued = await redeem(state, record, presented, "social")
        return json_response(token_body(account, issued))

    async def login(request: Request) -> Response:
        q = request.query_params
        redirect_uri = q.get("redirect_uri", "")
        problems = []
        if q.get("idp") not in IDPS:
            problems.append("idp must be Google or Github")
        if not q.get("code_challenge") or q.get("code_challenge_method") != "S256":
            problems.append("code_challenge with code_challenge_method=S256 is required")
        if not q.get("state"):
            problems.append("state is required")
        if redirect_uri != KIRO_REDIRECT_URI and (
            Rule.LOGIN_REDIRECT_URI in sim.state.rules or not urlsplit(redirect_uri).scheme
        ):
            problems.append(f"redirect_uri must be {KIRO_REDIRECT_URI}")
        if problems:
            return PlainTextResponse("Invalid login request: " + "; ".join(problems), status_code=400)
        code = sim.logins.create(q["code_challenge"], redirect_uri, q["idp"])
        sim.state.stats.logins += 1
        separator = "&" if "?" in redirect_uri else "?"
        location = redirect_uri + separator + urlencode({"code": code.code, "state": q["state"]})
        return RedirectResponse(location, status_code=302)

    async def oauth_token(request: Request) -> Response:
        doc = await read_json(request)
        if not isinstance(doc, dict):
            return error_response(oauth_error("invalid_request", "JSON body required"))
        try:
            account, issued = sim.logins.exchange(
                doc.get("code"), doc.get("code_verifier"), doc.get("redirect_uri")
            )
        except LoginError as exc:
            return error_response(oauth_error("invalid_grant", str(exc), error_type="InvalidGrantException"))
        logger.info("social login account=%s", account.id)
        return json_response(
            {
                "accessToken": issued.access_token,
                "refreshToken": issued.refresh_token,
                "profileArn": account.profile_arn,
                "expiresIn": issued.expires_in,
            }
        )

    return [
        Route("/refreshToken", refresh_token, methods=["POST"]),
        Route("/login", login, methods=["GET"]),
        Route("/oauth/token", oauth_token, methods=["POST"]),
    ]
