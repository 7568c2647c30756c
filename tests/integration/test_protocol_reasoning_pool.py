"""Reasoning as data through the real pool: the broker reads each account's catalogue from the
simulator's `ListAvailableModels` (with `additionalModelRequestFieldsSchema` where the account
has it), puts the serving account's entry on the lease (`LeaseGrant.model_info`), and the gateway
shapes the body for that account (kiro-protocol.md §19.5). Real broker and gateway processes,
real NATS and Redis; the simulator validates the fields against its own schemas."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from kiro_testing.pytest_plugin import Stacks
from kiro_testing.sim import Sim, credential
from kiro_testing.stack import CLIENT_TOKEN, StackConfig
from tests.integration.pool_helpers import wait_catalogues
from tests.integration.reasoning_stack import NEW_MODELS

pytestmark = pytest.mark.integration


def last_body(sim: Sim, account_id: str) -> dict[str, Any]:
    body: dict[str, Any] = sim.last_request(account_id)["body"]
    return body


@pytest.mark.parametrize("schemas", [True, False], ids=["newer-host", "classic-host"])
def test_reasoning_follows_the_serving_accounts_catalogue(sim: Sim, schemas: bool, stacks: Stacks) -> None:
    account = sim.add_account(models=NEW_MODELS, request_fields_schemas=schemas)
    pool = stacks(StackConfig(credentials=[credential(account)]), sim=sim)
    try:
        wait_catalogues(pool, account["id"])
        with anthropic.Anthropic(base_url=pool.gateway_url(), api_key=CLIENT_TOKEN, max_retries=0) as c:
            message = c.messages.create(
                model="claude-sonnet-5",
                max_tokens=2048,
                thinking={"type": "enabled", "budget_tokens": 1024},
                messages=[{"role": "user", "content": "Think, then say hi."}],
            )
        assert message.content, message
        body = last_body(sim, account["id"])
        history = str(body["conversationState"].get("history", ""))
        if schemas:
            # Sonnet 5's schema has no budget: `enabled` goes as `adaptive`, and no prompt tags
            assert body["additionalModelRequestFields"]["thinking"]["type"] == "adaptive"
            assert "<thinking_mode>" not in history
        else:
            assert "additionalModelRequestFields" not in body
            assert "<thinking_mode>" in history
    finally:
        pool.stop()
