"""Control-plane reads on the API host: `GET /getUsageLimits`, `GET /ListAvailableModels`, `POST /mcp`.

Shapes follow kiro-protocol.md §10.2 (usage: base limit, free trial, bonuses, epoch-seconds
float timestamps), §11.1 (model list) and §14 (MCP `web_search`, JSON-RPC 2.0). All need a
valid bearer token; a `profileArn` query parameter that is not the account's gives 403
`User is not authorized ...` (rule `runtime_query`, like a missing `origin=AI_EDITOR`).

Deliberately not here: credits accounting (the chat route charges; this only reports).
"""

from __future__ import annotations

import calendar
import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kiro_sim import errors
from kiro_sim.accounts import Account
from kiro_sim.plan import context_window
from kiro_sim.reasoning import schema_for
from kiro_sim.routes.common import bearer, error_response, json_response, read_json
from kiro_sim.rules import Rule
from kiro_sim.script import Surface
from kiro_sim.simulator import Simulator

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


def model_entry(model_id: str, window_default: int, window_large: int) -> dict[str, Any]:
    name, rate = _MODEL_INFO.get(model_id, (model_id, 1.0))
    return {
        "modelId": model_id,
        "modelName": name,
        "description": f"{name} (simulated)",
        "rateMultiplier": rate,
        "rateUnit": "credit",
        "supportedInputTypes": ["TEXT", "IMAGE"],
        "supportsPromptCache": True,
        "tokenLimits": {
            "maxInputTokens": context_window(model_id, window_default, window_large),
            "maxOutputTokens": 64000,
        },
    }


def routes(sim: Simulator) -> list[Route]:
    def gate(request: Request, surface: Surface) -> tuple[Account | None, Response | None]:
        """Bearer, suspension, query rules and scripted faults shared by the three endpoints."""
        state = sim.state
        auth = state.authenticate(bearer(request))
        if auth is None:
            state.stats.reject(Rule.BEARER_TOKEN, None)
            return None, error_response(errors.BEARER_INVALID)
        token, account = auth
        if account.suspended:
            state.stats.reject(Rule.SUSPENDED, account.id)
            return None, error_response(errors.suspended(account.user_id))
        q = request.query_params
        rules = state.rules
        if surface in ("usage", "models") and Rule.RUNTIME_QUERY in rules:
            arn = q.get("profileArn")
            if arn is not None and arn != account.profile_arn:
                state.stats.reject(Rule.RUNTIME_QUERY, account.id)
                return None, error_response(errors.NOT_AUTHORIZED)
            if q.get("origin") != "AI_EDITOR" or (
                surface == "usage" and q.get("resourceType") != "AGENTIC_REQUEST"
            ):
                state.stats.reject(Rule.RUNTIME_QUERY, account.id)
                return None, error_response(errors.IMPROPER)
        now = state.clock()
        slots = state.token_scripts.get(token)
        script = slots.take(surface, now) if slots is not None else None
        script = script or account.scripts.take(surface, now)
        error = script.upstream_error() if script is not None else None
        if error is not None:
            return None, error_response(error)
        return account, None

    async def get_usage_limits(request: Request) -> Response:
        sim.state.stats.totals.usage_calls += 1
        account, refusal = gate(request, "usage")
        if account is None:
            assert refusal is not None
            return refusal
        sim.state.stats.account(account.id).outcomes.usage_calls += 1
        with_email = request.query_params.get("isEmailRequired") == "true"
        return json_response(usage_limits(account, sim.state.clock(), with_email))

    async def list_models(request: Request) -> Response:
        sim.state.stats.totals.models_calls += 1
        account, refusal = gate(request, "models")
        if account is None:
            assert refusal is not None
            return refusal
        sim.state.stats.account(account.id).outcomes.models_calls += 1
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
            model_entry(m, settings.context_window_default, settings.context_window_large) for m in page
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
        sim.state.stats.totals.mcp_calls += 1
        account, refusal = gate(request, "mcp")
        if account is None:
            assert refusal is not None
            return refusal
        sim.state.stats.account(account.id).outcomes.mcp_calls += 1
        doc = await read_json(request)
        if not isinstance(doc, dict) or doc.get("jsonrpc") != "2.0":
            return error_response(errors.IMPROPER)
        return json_response(mcp_answer(doc))

    return [
        Route("/getUsageLimits", get_usage_limits, methods=["GET"]),
        Route("/ListAvailableModels", list_models, methods=["GET"]),
        Route("/mcp", mcp, methods=["POST"]),
    ]


def mcp_answer(doc: dict[str, Any]) -> dict[str, Any]:
    """JSON-RPC answer for `tools/list` and `tools/call` of `web_search` (§14)."""
    rpc_id = doc.get("id")
    method = doc.get("method")
    raw_params = doc.get("params")
    params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
    if method == "tools/list":
        tool = {
            "name": "web_search",
            "description": "Search the web (simulated).",
            "inputSchema": {
                "type": "object",
                "properties": {"query": {"type": "string", "maxLength": 200}},
                "required": ["query"],
            },
        }
        return {"id": rpc_id, "jsonrpc": "2.0", "result": {"tools": [tool]}}
    raw_args = params.get("arguments")
    args: dict[str, Any] = raw_args if isinstance(raw_args, dict) else {}
    query = args.get("query")
    if method != "tools/call" or params.get("name") != "web_search" or not isinstance(query, str):
        return {
            "id": rpc_id,
            "jsonrpc": "2.0",
            "error": {"code": -32602, "message": f"Tool not found or invalid params: {params.get('name')!r}"},
        }
    results = []
    for rank in range(3):
        slug = hashlib.sha256(f"{query}/{rank}".encode()).hexdigest()[:12]
        results.append(
            {
                "title": f"Result {rank + 1} for {query}",
                "url": f"https://example.com/{slug}",
                "snippet": f"Simulated snippet {rank + 1} about {query}.",
                "publishedDate": 1717000000000 + rank,
                "id": slug,
                "domain": "example.com",
                "maxVerbatimWordLimit": 30,
                "publicDomain": False,
            }
        )
    text = orjson.dumps({"results": results, "totalResults": len(results), "query": query}).decode()
    return {
        "id": rpc_id,
        "jsonrpc": "2.0",
        "result": {"isError": False, "content": [{"type": "text", "text": text}]},
    }
