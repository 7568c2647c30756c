"""Control-plane reads on the API host: `GET /getUsageLimits`, `GET /ListAvailableModels`, `POST /mcp`.

Shapes follow kiro-protocol.md §10.2 (usage: base limit, free trial, bonuses, epoch-seconds
float timestamps), §11.1 (model list) and §14 (MCP `web_search`, JSON-RPC 2.0). All need a
valid bearer token; a `profileArn` query parameter that is not the account's gives 403
`User is not authorized ...` (rule `runtime_query`, like a missing `origin=AI_EDITOR`).

Deliberately not here: credits accounting (the chat route charges; this only reports).
"""

from __future__ import annotations

import asyncio
import calendar
import logging
from datetime import UTC, datetime
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kiro_sim import errors
from kiro_sim.accounts import Account
from kiro_sim.mcp import check_mcp, mcp_answer
from kiro_sim.plan import context_window
from kiro_sim.reasoning import schema_for
from kiro_sim.routes.common import bearer, error_response, json_response, read_json
from kiro_sim.rules import Rule
from kiro_sim.script import Script, Surface
from kiro_sim.simulator import Simulator
from kiro_sim.stats import Outcomes

log = logging.getLogger(__name__)

_MODEL_INFO: dict[str, tuple[str, float]] = {
    "claude-sonnet-4.5": ("Claude Sonnet 4.5", 1.3),
    "claude-sonnet-4.6": ("Claude Sonnet 4.6", 1.3),
    "claude-opus-4.5": ("Claude Opus 4.5", 2.2),
    "claude-opus-4.6": ("Claude Opus 4.6", 2.2),
    "claude-haiku-4.5": ("Claude Haiku 4.5", 0.4),
    "auto": ("Auto", 1.0),
}


def next_month_start(now: float) -> float:
    day = datetime.fromtimestamp(now, UTC)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return float(calendar.timegm((year, month, 1, 0, 0, 0)))


def _split_usage(account: Account) -> tuple[float, float, float]:
    """Used credits spread over free trial first, then bonus, then the base allowance."""
    left = account.credits_used
    trial = min(left, account.trial_credits)
    left -= trial
    bonus = min(left, account.bonus_credits)
    return trial, bonus, left - bonus


def usage_limits(account: Account, now: float, with_email: bool) -> dict[str, Any]:
    reset = next_month_start(now)
    trial_used, bonus_used, base_used = _split_usage(account)
    breakdown: dict[str, Any] = {
        "resourceType": "CREDIT",
        "unit": "INVOCATIONS",
        "currency": "USD",
        "displayName": "Credit",
        "displayNamePlural": "Credits",
        "currentUsage": int(base_used),
        "currentUsageWithPrecision": round(base_used, 4),
        "usageLimit": int(account.credits_limit),
        "usageLimitWithPrecision": float(account.credits_limit),
        "currentOverages": 0,
        "currentOveragesWithPrecision": 0.0,
        "overageCap": 10000,
        "overageCapWithPrecision": 10000.0,
        "overageRate": 0.04,
        "overageCharges": 0.0,
        "nextDateReset": reset,
        "freeTrialInfo": {
            "freeTrialStatus": "ACTIVE" if account.trial_credits > 0 else "EXPIRED",
            "freeTrialExpiry": reset,
            "usageLimit": int(account.trial_credits),
            "usageLimitWithPrecision": float(account.trial_credits),
            "currentUsage": int(trial_used),
            "currentUsageWithPrecision": round(trial_used, 4),
        },
        "bonuses": [],
    }
    if account.bonus_credits > 0:
        breakdown["bonuses"].append(
            {
                "bonusCode": "WELCOME",
                "displayName": "Welcome bonus",
                "status": "ACTIVE",
                "usageLimit": int(account.bonus_credits),
                "usageLimitWithPrecision": float(account.bonus_credits),
                "currentUsage": int(bonus_used),
                "currentUsageWithPrecision": round(bonus_used, 4),
                "expiresAt": reset,
            }
        )
    paid = "FREE" not in account.subscription_title.upper()
    return {
        "daysUntilReset": max(0, int((reset - now) // 86400)),
        "nextDateReset": reset,
        "limits": [],
        "overageConfiguration": {"overageStatus": "DISABLED"},
        "subscriptionInfo": {
            "subscriptionTitle": account.subscription_title,
            "type": "Q_DEVELOPER_STANDALONE_PRO" if paid else "Q_DEVELOPER_STANDALONE_FREE",
            "overageCapability": "OVERAGE_CAPABLE" if paid else "OVERAGE_INCAPABLE",
            "upgradeCapability": "UPGRADE_CAPABLE",
            "subscriptionManagementTarget": "MANAGE" if paid else "PURCHASE",
        },
        "usageBreakdownList": [breakdown],
        "userInfo": {"email": account.email if with_email else None, "userId": account.user_id},
    }


def model_entry(
    model_id: str, window_default: int, window_large: int, windows: dict[str, int] | None = None
) -> dict[str, Any]:
    name, rate = _MODEL_INFO.get(model_id, (_display_name(model_id), 1.0))
    return {
        "modelId": model_id,
        "modelName": name,
        "description": f"{name} (simulated)",
        "rateMultiplier": rate,
        "rateUnit": "credit",
        "supportedInputTypes": ["TEXT", "IMAGE"],
        "supportsPromptCache": True,
        "tokenLimits": {
            "maxInputTokens": context_window(model_id, window_default, window_large, windows),
            "maxOutputTokens": 64000,
        },
    }


def _display_name(model_id: str) -> str:
    """`claude-opus-4.8` -> `Claude Opus 4.8`."""
    return " ".join(part.capitalize() for part in model_id.split("-"))


def _count_call(outcomes: Outcomes, surface: Literal["usage", "models"]) -> None:
    if surface == "usage":
        outcomes.usage_calls += 1
    else:
        outcomes.models_calls += 1


def routes(sim: Simulator) -> list[Route]:
    def runtime_gate(request: Request, surface: Literal["usage", "models"]) -> Account | Response:
        """`gate_with_script` for the runtime calls, counted in the totals and, once through,
        in the account's outcomes."""
        stats = sim.state.stats
        _count_call(stats.totals, surface)
        account, refusal, _ = gate_with_script(request, surface)
        if account is None:
            assert refusal is not None
            return refusal
        _count_call(stats.account(account.id).outcomes, surface)
        return account

    def gate_with_script(
        request: Request, surface: Surface
    ) -> tuple[Account | None, Response | None, Script | None]:
        """Bearer, suspension, query rules and scripted faults shared by the three endpoints."""
        state = sim.state
        auth = state.authenticate(bearer(request), request.headers.get("tokentype"))
        if auth is None:
            state.stats.reject(Rule.BEARER_TOKEN, None)
            return None, error_response(errors.BEARER_INVALID), None
        token, account = auth
        if account.suspended:
            state.stats.reject(Rule.SUSPENDED, account.id)
            return None, error_response(errors.suspended(account.user_id)), None
        q = request.query_params
        rules = state.rules
        if surface in ("usage", "models") and Rule.RUNTIME_QUERY in rules:
            arn = q.get("profileArn")
            if arn is not None and arn != account.profile_arn:
                state.stats.reject(Rule.RUNTIME_QUERY, account.id)
                return None, error_response(errors.NOT_AUTHORIZED), None
            if q.get("origin") != "AI_EDITOR" or (
                surface == "usage" and q.get("resourceType") != "AGENTIC_REQUEST"
            ):
                state.stats.reject(Rule.RUNTIME_QUERY, account.id)
                return None, error_response(errors.IMPROPER), None
        now = state.clock()
        slots = state.token_scripts.get(token)
        script = slots.take(surface, now) if slots is not None else None
        script = script or account.scripts.take(surface, now)
        error = script.upstream_error() if script is not None else None
        if error is not None:
            return None, error_response(error), None
        return account, None, script

    async def get_usage_limits(request: Request) -> Response:
        account = runtime_gate(request, "usage")
        if isinstance(account, Response):
            return account
        with_email = request.query_params.get("isEmailRequired") == "true"
        return json_response(usage_limits(account, sim.state.clock(), with_email))

    async def list_models(request: Request) -> Response:
        account = runtime_gate(request, "models")
        if isinstance(account, Response):
            return account
        q = request.query_params
        try:
            max_results = max(1, int(q.get("maxResults", "50")))
            start = int(q.get("nextToken", "0"))
        except ValueError:
            return error_response(errors.IMPROPER)
        ids = [m for m in account.models if m != "auto"]
        page = ids[start : start + max_results]
        settings = sim.settings
        entries = [
            model_entry(m, settings.context_window_default, settings.context_window_large, account.windows)
            for m in page
        ]
        for entry in entries:
            if (schema := schema_for(account.request_fields_schemas, entry["modelId"])) is not None:
                entry["additionalModelRequestFieldsSchema"] = schema
        body: dict[str, Any] = {
            "models": entries,
            "nextToken": str(start + max_results) if start + max_results < len(ids) else None,
        }
        if "auto" in account.models:
            body["defaultModel"] = {
                "modelId": "auto",
                "modelName": "Auto",
                "description": "Kiro picks the model",
            }
        return json_response(body)

    async def mcp(request: Request) -> Response:
        stats = sim.state.stats
        stats.totals.mcp_calls += 1
        account, refusal, script = gate_with_script(request, "mcp")
        if script is not None and script.first_byte_delay:
            await asyncio.sleep(script.first_byte_delay)
        if account is None:
            assert refusal is not None
            return refusal
        stats.account(account.id).outcomes.mcp_calls += 1
        doc = await read_json(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        stats.record_mcp(account.id, doc, headers)
        if Rule.MCP_REQUEST in sim.state.rules:
            problem = check_mcp(doc, headers, account)
            if problem is not None:
                stats.reject(Rule.MCP_REQUEST, account.id)
                log.info("mcp request rejected", extra={"rule": "mcp_request", "detail": problem.detail})
                return error_response(problem.error)
        if not isinstance(doc, dict):
            return error_response(errors.IMPROPER)
        return json_response(mcp_answer(doc, script))

    return [
        Route("/getUsageLimits", get_usage_limits, methods=["GET"]),
        Route("/ListAvailableModels", list_models, methods=["GET"]),
        Route("/mcp", mcp, methods=["POST"]),
    ]
