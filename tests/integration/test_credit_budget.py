"""A team key's monthly credit budget end to end: the gateway, the broker's admission, the
usage records with the credits of each `meteringEvent`, `/api/usage` and the Teams page."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kiro_testing.polling import apoll
from kiro_testing.pytest_plugin import Stacks
from kiro_testing.sim import Sim
from tests.integration.teams import MODEL, Teams, message_body, team_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(sim: Sim, module_stacks: Stacks) -> Iterator[Teams]:
    with team_stack(module_stacks, sim) as s:
        yield s


def costing(credits: float) -> dict[str, Any]:
    return message_body(f"hi<<sim:{json.dumps({'credits': credits})}>>")


async def post(url: str, key: str, body: dict[str, Any], path: str = "/v1/messages") -> httpx.Response:
    async with httpx.AsyncClient(timeout=60.0) as client:
        return await client.post(url + path, json=body, headers={"x-api-key": key})


async def test_a_spent_credit_budget_refuses_in_the_clients_shape(stack: Teams) -> None:
    team = f"credits-{uuid.uuid4().hex[:6]}"
    key, record = stack.create_key(team, monthly_credit_budget=1.0, monthly_token_budget=10**9)
    assert record["limits"]["monthly_credit_budget"] == 1.0
    url = stack.pool.gateway_url(0)
    for _ in range(2):  # 0.6 credits each: the second starts with 0.4 left, so it is admitted
        response = await post(url, key, costing(0.6))
        assert response.status_code == 200, response.text
        assert "x-kiro-budget-remaining-credits" in response.headers

        def spent() -> dict[str, Any] | None:
            (row,) = [t for t in stack.usage(team=team)["teams"] if t["team"] == team]
            return row if row["month_spent_credits"] >= row["credits"] - 1e-9 and row["credits"] > 0 else None

        await apoll(spent, within=10.0, message="the credits reach the team's month")

    def both_counted() -> dict[str, Any] | None:
        (row,) = [t for t in stack.usage(team=team)["teams"] if t["team"] == team]
        return row if row["month_spent_credits"] >= 1.2 - 1e-9 else None

    row = await apoll(both_counted, within=10.0, message="1.2 credits spent")
    assert row["budget_credits"] == 1.0 and row["credits"] == pytest.approx(1.2)
    assert row["credit_budget_used"] == pytest.approx(1.2)

    refused = await post(url, key, costing(0.6))
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == "rate_limit_error" and "credit budget" in error["message"]
    assert int(refused.headers["retry-after"]) >= 1
    openai = await post(
        stack.pool.gateway_url(1),
        key,
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        "/v1/chat/completions",
    )
    assert openai.status_code == 429 and openai.json()["error"]["type"] == "rate_limit_exceeded"

    page = stack.admin.get("/teams", params={"team": team})
    assert page.status_code == 200
    assert "credits/month" in page.text and "1.20 / 1 credits" in page.text
