"""The control API under `/_sim/` (JSON, no auth): accounts, tokens, scripts, rules, flows, stats.

Every endpoint is listed by `GET /_sim` and documented in the README. Bad input gives 422
`{"error": "..."}`; an unknown account, token or user code gives 404.

Deliberately not here: any behaviour of the simulated upstream itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kiro_sim.accounts import Account, AccountPatch, AccountSpec
from kiro_sim.received import received
from kiro_sim.routes.common import json_response, read_json
from kiro_sim.rules import DESCRIPTIONS
from kiro_sim.script import Script, ScriptSlots, Surface
from kiro_sim.simulator import Simulator
from kiro_sim.stats import Stats


class ScriptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str | None = None
    access_token: str | None = None
    mode: Literal["queue", "sticky", "fault"] = "queue"
    surface: Surface = "chat"
    script: Script | list[Script] | None = None
    times: int | None = Field(default=None, ge=1)
    seconds: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> ScriptRequest:
        if (self.account_id is None) == (self.access_token is None):
            raise ValueError("give exactly one of account_id, access_token")
        if self.script is None and self.mode != "sticky":
            raise ValueError("script is required (null only clears a sticky script)")
        if isinstance(self.script, list) and self.mode != "queue":
            raise ValueError("a list of scripts only goes with mode=queue")
        return self


class ThrottleRequest(BaseModel):
    """Throttle every account (or the listed ones) for `seconds` from now (chat surface)."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(gt=0, le=3600)
    error: str = "throttled"  # any preset (README); default a plain 429 without a reason
    retry_after: int | str | None = None
    account_ids: list[str] | None = None


class DeviceDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_code: str
    account_id: str | None = None


class Problem(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Any]]


def _parse(model: type[M], doc: Any) -> M:
    try:
        return model.model_validate(doc if doc is not None else {})
    except ValidationError as exc:
        raise Problem(422, str(exc)) from exc


ENDPOINTS = [
    "GET /_sim",
    "GET /_sim/accounts",
    "POST /_sim/accounts",
    "GET /_sim/accounts/{id}",
    "PATCH /_sim/accounts/{id}",
    "POST /_sim/accounts/{id}/access-tokens",
    "POST /_sim/accounts/{id}/expire-access-tokens",
    "POST /_sim/accounts/{id}/revoke",
    "GET /_sim/accounts/{id}/last-request",
    "GET /_sim/scripts",
    "POST /_sim/scripts",
    "DELETE /_sim/scripts",
    "POST /_sim/throttle",
    "GET /_sim/rules",
    "PATCH /_sim/rules",
    "POST /_sim/rules/reset",
    "GET /_sim/device",
    "POST /_sim/device/approve",
    "POST /_sim/device/deny",
    "POST /_sim/login/next",
    "GET /_sim/holds",
    "POST /_sim/holds/{name}/release",
    "GET /_sim/stats",
    "POST /_sim/stats/reset",
    "POST /_sim/reset",
]


def routes(sim: Simulator) -> list[Route]:
    def account_of(request: Request) -> Account:
        account = sim.account(request.path_params["account_id"])
        if account is None:
            raise Problem(404, f"unknown account {request.path_params['account_id']!r}")
        return account

    def slots_for(account_id: str | None, token: str | None, create: bool) -> ScriptSlots | None:
        state = sim.state
        if account_id is not None:
            account = sim.account(account_id)
            if account is None:
                raise Problem(404, f"unknown account {account_id!r}")
            return account.scripts
        assert token is not None
        if token not in state.access:
            raise Problem(404, "unknown access token")
        if create:
            return state.token_scripts.setdefault(token, ScriptSlots())
        return state.token_scripts.get(token)

    async def index(request: Request) -> Any:
        return {"endpoints": ENDPOINTS}

    async def list_accounts(request: Request) -> Any:
        return {"accounts": [a.view() for a in sim.state.accounts.values()]}

    async def create_account(request: Request) -> Any:
        doc = await read_json(request)
        items = doc if isinstance(doc, list) else [doc]
        specs = [_parse(AccountSpec, item) for item in items]
        try:
            created = [sim.state.add_account(spec).view() for spec in specs]
        except ValueError as exc:
            raise Problem(409, str(exc)) from exc
        return created if isinstance(doc, list) else created[0]

    async def get_account(request: Request) -> Any:
        return account_of(request).view()

    async def patch_account(request: Request) -> Any:
        account = account_of(request)
        account.apply(_parse(AccountPatch, await read_json(request)))
        return account.view()

    async def mint_access_token(request: Request) -> Any:
        token, ttl = sim.state.issue_access_token(account_of(request))
        return {"access_token": token, "expires_in": ttl}

    async def expire_access_tokens(request: Request) -> Any:
        return {"expired": sim.state.expire_access_tokens(account_of(request))}

    async def revoke(request: Request) -> Any:
        account = account_of(request)
        doc = await read_json(request)
        token = doc.get("refresh_token") if isinstance(doc, dict) else None
        token = token or account.refresh_token
        record = sim.state.refresh.get(token)
        if record is None or record.account is not account:
            raise Problem(404, "refresh token does not belong to this account")
        sim.state.revoke_refresh(token)
        return {"revoked": token}

    async def last_request(request: Request) -> Any:
        acc_stats = sim.state.stats.account(account_of(request).id)
        return {
            "body": acc_stats.last_request,
            "headers": acc_stats.last_request_headers,
            "received": received(acc_stats.last_request),  # texts and images with sizes
        }

    async def get_scripts(request: Request) -> Any:
        state = sim.state
        return {
            "accounts": {a.id: a.scripts.describe() for a in state.accounts.values() if not a.scripts.empty},
            "access_tokens": {t: s.describe() for t, s in state.token_scripts.items() if not s.empty},
        }

    async def post_script(request: Request) -> Any:
        req = _parse(ScriptRequest, await read_json(request))
        slots = slots_for(req.account_id, req.access_token, create=True)
        assert slots is not None
        if req.mode == "sticky":
            assert not isinstance(req.script, list)
            slots.set_sticky(req.script, req.surface)
        elif req.mode == "fault":
            assert isinstance(req.script, Script)
            times = req.times if req.times is not None or req.seconds is not None else 1
            until = sim.state.clock() + req.seconds if req.seconds is not None else None
            slots.add_fault(req.script, req.surface, times, until)
        else:
            scripts = req.script if isinstance(req.script, list) else [req.script]
            for script in scripts:
                assert script is not None
                for _ in range(req.times or 1):
                    slots.enqueue(script, req.surface)
        return slots.describe()

    async def delete_scripts(request: Request) -> Any:
        q = request.query_params
        if q.get("account_id") is None and q.get("access_token") is None:
            for account in sim.state.accounts.values():
                account.scripts.clear()
            sim.state.token_scripts.clear()
            return {"cleared": "all"}
        slots = slots_for(q.get("account_id"), q.get("access_token"), create=False)
        if slots is not None:
            slots.clear()
        return {"cleared": q.get("account_id") or "access_token"}

    async def throttle(request: Request) -> Any:
        req = _parse(ThrottleRequest, await read_json(request))
        try:
            script = Script(error=req.error, retry_after=req.retry_after)
        except ValidationError as exc:
            raise Problem(422, str(exc)) from exc
        error = script.upstream_error()
        assert error is not None
        ids = req.account_ids if req.account_ids is not None else list(sim.state.accounts)
        accounts = [sim.account(i) for i in ids]
        if any(a is None for a in accounts):
            raise Problem(404, f"unknown account among {ids!r}")
        now = sim.state.clock()
        until = now + req.seconds
        for account in accounts:
            assert account is not None
            account.scripts.add_fault(script, "chat", None, until)
        return {"accounts": ids, "from": now, "until": until, "status": error.status}

    async def get_rules(request: Request) -> Any:
        return {
            "rules": sim.state.rules.as_dict(),
            "descriptions": {r.value: d for r, d in DESCRIPTIONS.items()},
        }

    async def patch_rules(request: Request) -> Any:
        doc = await read_json(request)
        if not isinstance(doc, dict) or not all(isinstance(v, bool) for v in doc.values()):
            raise Problem(422, 'body must be {"rule_name": true|false, ...}')
        try:
            sim.state.rules.set(doc)
        except ValueError as exc:
            raise Problem(422, str(exc)) from exc
        return {"rules": sim.state.rules.as_dict()}

    async def reset_rules(request: Request) -> Any:
        sim.state.rules.reset()
        return {"rules": sim.state.rules.as_dict()}

    async def list_devices(request: Request) -> Any:
        return {"device_authorizations": sim.devices.view()}

    async def decide_device(request: Request, *, approve: bool) -> Any:
        decision = _parse(DeviceDecision, await read_json(request))
        try:
            if approve:
                auth = sim.devices.approve(decision.user_code, decision.account_id)
            else:
                auth = sim.devices.deny(decision.user_code)
        except KeyError as exc:
            raise Problem(404, str(exc)) from exc
        except ValueError as exc:
            raise Problem(409, str(exc)) from exc
        return {"user_code": auth.user_code, "status": auth.status.value}

    async def approve_device(request: Request) -> Any:
        return await decide_device(request, approve=True)

    async def deny_device(request: Request) -> Any:
        return await decide_device(request, approve=False)

    async def next_login(request: Request) -> Any:
        doc = await read_json(request)
        account_id = doc.get("account_id") if isinstance(doc, dict) else None
        if not isinstance(account_id, str) or sim.account(account_id) is None:
            raise Problem(404, "unknown account")
        if sim.state.accounts[account_id].auth != "social":
            raise Problem(409, "social login can only return a social account")
        sim.state.next_login_account = account_id
        return {"next_login_account": account_id}

    async def get_holds(request: Request) -> Any:
        return {"holds": sim.state.holds_view()}

    async def release_hold(request: Request) -> Any:
        return {"released": sim.state.release_hold(request.path_params["name"])}

    async def get_stats(request: Request) -> Any:
        bodies = request.query_params.get("bodies", "true") != "false"
        out = sim.state.stats.as_dict(include_bodies=bodies)
        out["holds"] = sim.state.holds_view()
        return out

    async def reset_stats(request: Request) -> Any:
        sim.state.stats = Stats()
        for account_id in sim.state.accounts:
            sim.state.stats.account(account_id)
        return {"reset": "stats"}

    async def reset_all(request: Request) -> Any:
        doc = await read_json(request)
        seed = not (isinstance(doc, dict) and doc.get("seed") is False)
        sim.reset(seed=seed)
        return {"reset": "all", "seeded": [a.id for a in sim.state.accounts.values()]}

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                result = await handler(request)
            except Problem as exc:
                return json_response({"error": str(exc)}, status=exc.status)
            status = (
                201 if request.method == "POST" and handler in (create_account, mint_access_token) else 200
            )
            return json_response(result, status=status)

        return endpoint

    table: list[tuple[str, Handler, list[str]]] = [
        ("/_sim", index, ["GET"]),
        ("/_sim/accounts", list_accounts, ["GET"]),
        ("/_sim/accounts", create_account, ["POST"]),
        ("/_sim/accounts/{account_id}", get_account, ["GET"]),
        ("/_sim/accounts/{account_id}", patch_account, ["PATCH"]),
        ("/_sim/accounts/{account_id}/access-tokens", mint_access_token, ["POST"]),
        ("/_sim/accounts/{account_id}/expire-access-tokens", expire_access_tokens, ["POST"]),
        ("/_sim/accounts/{account_id}/revoke", revoke, ["POST"]),
        ("/_sim/accounts/{account_id}/last-request", last_request, ["GET"]),
        ("/_sim/scripts", get_scripts, ["GET"]),
        ("/_sim/scripts", post_script, ["POST"]),
        ("/_sim/scripts", delete_scripts, ["DELETE"]),
        ("/_sim/throttle", throttle, ["POST"]),
        ("/_sim/rules", get_rules, ["GET"]),
        ("/_sim/rules", patch_rules, ["PATCH"]),
        ("/_sim/rules/reset", reset_rules, ["POST"]),
        ("/_sim/device", list_devices, ["GET"]),
        ("/_sim/device/approve", approve_device, ["POST"]),
        ("/_sim/device/deny", deny_device, ["POST"]),
        ("/_sim/login/next", next_login, ["POST"]),
        ("/_sim/holds", get_holds, ["GET"]),
        ("/_sim/holds/{name}/release", release_hold, ["POST"]),
        ("/_sim/stats", get_stats, ["GET"]),
        ("/_sim/stats/reset", reset_stats, ["POST"]),
        ("/_sim/reset", reset_all, ["POST"]),
    ]
    return [Route(path, wrap(handler), methods=methods) for path, handler, methods in table]
