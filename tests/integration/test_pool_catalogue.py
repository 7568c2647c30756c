"""The live catalogue per account and model resolution against it (issue 10 points 1 and 2):
gateway and broker over real NATS and Redis against the simulator, whose accounts list and
accept their own models."""

from __future__ import annotations

from typing import Any

import pytest

from kiro_testing.polling import poll
from kiro_testing.pytest_plugin import Stacks
from kiro_testing.sim import Sim, credential
from kiro_testing.stack import Stack, StackConfig
from tests.integration.pool_helpers import (
    chats,
    create_team_key,
    credential_action,
    last_model,
    message,
    model_rejections,
    models_list,
    pool_models,
    status_of,
    wait_catalogues,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(sim: Sim, stacks: Stacks) -> Any:
    def start(accounts: list[dict[str, Any]], **env: str) -> Stack:
        pool = stacks(StackConfig(credentials=[credential(a) for a in accounts], env=env), sim=sim)
        wait_catalogues(pool, *(a["id"] for a in accounts))
        return pool

    return start


def gateway_offers(pool: Stack, expected: set[str]) -> None:
    """Until the gateway's view of the pool (its /v1/models) is `expected`."""
    poll(
        lambda: {m["id"] for m in models_list(pool)["data"]} == expected, timeout=10.0, message="pool models"
    )


def test_the_2026_models_reach_upstream_exactly(sim: Sim, stack: Any) -> None:
    account = sim.add_account()
    pool = stack([account])
    for requested, served in [
        ("claude-opus-4-8", "claude-opus-4.8"),
        ("claude-opus-5-5", "claude-opus-5.5"),
        ("claude-sonnet-5", "claude-sonnet-5"),
        ("claude-opus-4-8-20260529", "claude-opus-4.8"),
        ("claude-opus-4.8", "claude-opus-4.8"),
    ]:
        for stream in (False, True):
            response = message(pool, requested, stream=stream)
            assert response.status_code == 200, response.text
            assert "x-kiro2api-model-fallback" not in response.headers
            assert last_model(sim, account["id"]) == served
        assert f'"model":"{requested}"' in response.text.replace(" ", "")  # the name the client sent


def test_fallback_is_flagged_and_never_silent(sim: Sim, stack: Any) -> None:
    account = sim.add_account(models=["claude-opus-4.6", "claude-sonnet-4.5", "claude-haiku-4.5"])
    pool = stack([account])
    gateway_offers(pool, {"claude-opus-4-6", "claude-sonnet-4-5", "claude-haiku-4-5"})
    response = message(pool, "claude-opus-4-8")
    assert response.status_code == 200, response.text
    assert response.headers["x-kiro2api-model-fallback"] == "claude-opus-4-8 -> claude-opus-4.6"
    assert response.json()["model"] == "claude-opus-4-8"
    assert last_model(sim, account["id"]) == "claude-opus-4.6"
    streamed = message(pool, "claude-sonnet-5", stream=True)
    assert streamed.headers["x-kiro2api-model-fallback"] == "claude-sonnet-5 -> claude-sonnet-4.5"
    assert last_model(sim, account["id"]) == "claude-sonnet-4.5"
    exact = message(pool, "claude-haiku-4-5")
    assert "x-kiro2api-model-fallback" not in exact.headers
    # non-Claude names are 400 unless mapped, even when a catalogue lists them
    assert message(pool, "auto").status_code == 400
    log = pool.gateways[0].read_log()
    assert log.count("model not offered by the pool") == 2  # once per name


def test_a_lease_goes_only_to_accounts_that_offer_the_model(sim: Sim, stack: Any) -> None:
    small = sim.add_account(models=["claude-sonnet-4.5"])
    big = sim.add_account(models=["claude-sonnet-4.5", "claude-opus-4.8"])
    pool = stack([small, big])
    assert [m.id for m in status_of(pool, small["id"]).models] == ["claude-sonnet-4.5"]
    assert pool_models(pool).unknown_accounts == 0
    for _ in range(6):
        assert message(pool, "claude-opus-4-8").status_code == 200
    assert chats(sim, small["id"]) == 0 and model_rejections(sim, small["id"]) == 0
    assert chats(sim, big["id"]) == 6
    for _ in range(4):
        assert message(pool, "claude-sonnet-4-5").status_code == 200
    assert chats(sim, small["id"]) >= 1  # both serve the model they share


def test_an_account_lacking_a_model_is_asked_once_per_catalogue_refresh(sim: Sim, stack: Any) -> None:
    first = sim.add_account()
    second = sim.add_account()
    pool = stack([first, second])
    # the upstream withdraws Opus 4.8 from the first account; the broker's catalogue says it has it
    sim.patch_account(first["id"], models=["claude-sonnet-4.5"])
    for _ in range(8):
        response = message(pool, "claude-opus-4-8")
        assert response.status_code == 200, response.text  # failover to the second account
    assert model_rejections(sim, first["id"]) == 1
    assert last_model(sim, second["id"]) == "claude-opus-4.8"
    # The answer refreshed the first account's catalogue: it lists Opus 4.8 no more.
    poll(lambda: [m.id for m in status_of(pool, first["id"]).models] == ["claude-sonnet-4.5"], timeout=10.0)
    # The upstream offers it again; the next refresh (here the operator's) makes it eligible again.
    sim.patch_account(first["id"], models=["claude-sonnet-4.5", "claude-opus-4.8"])
    assert credential_action(pool, first["id"], "refresh").ok
    poll(lambda: len(status_of(pool, first["id"]).models) == 2, timeout=10.0)
    before = chats(sim, first["id"])
    for _ in range(4):
        assert message(pool, "claude-opus-4-8").status_code == 200
    assert chats(sim, first["id"]) > before
    assert model_rejections(sim, first["id"]) == 1


def test_v1_models_lists_the_pool_with_windows_and_the_team_allow_list(sim: Sim, stack: Any) -> None:
    account = sim.add_account(
        models=["claude-opus-4.8", "claude-sonnet-5", "claude-haiku-4.5", "auto"],
        windows={"claude-opus-4.8": 272_000},
    )
    pool = stack([account])
    gateway_offers(pool, {"claude-opus-4-8", "claude-sonnet-5", "claude-haiku-4-5"})
    body = models_list(pool)
    assert body["object"] == "list" and body["has_more"] is False
    assert [m["id"] for m in body["data"]] == ["claude-opus-4-8", "claude-sonnet-5", "claude-haiku-4-5"]
    assert body["first_id"] == "claude-opus-4-8" and body["last_id"] == "claude-haiku-4-5"
    windows = {m["id"]: m["context_window"] for m in body["data"]}
    assert windows == {"claude-opus-4-8": 272_000, "claude-sonnet-5": 1_000_000, "claude-haiku-4-5": 200_000}
    for item in body["data"]:
        assert item["type"] == "model" and item["object"] == "model" and item["created_at"].endswith("Z")
        assert {"display_name", "created", "owned_by"} <= set(item)
    team = create_team_key(pool, "catalogue-team", ["claude-opus-*"])
    assert [m["id"] for m in models_list(pool, team)["data"]] == ["claude-opus-4-8"]
    # the window changes at run time: the next catalogue refresh shows it
    sim.patch_account(account["id"], windows={"claude-opus-4.8": 1_000_000})
    assert credential_action(pool, account["id"], "refresh").ok
    poll(
        lambda: (
            {m["id"]: m["context_window"] for m in models_list(pool)["data"]}["claude-opus-4-8"] == 1_000_000
        ),
        timeout=10.0,
    )


def test_final_usage_counts_with_the_serving_accounts_window(sim: Sim, stack: Any) -> None:
    narrow = sim.add_account(models=["claude-sonnet-4.5"], windows={"claude-sonnet-4.5": 100_000})
    wide = sim.add_account(models=["claude-sonnet-4.5"])  # 200K, the pool's widest window for it
    pool = stack([narrow, wide])
    text = "count me " * 400
    tokens: dict[str, list[int]] = {narrow["id"]: [], wide["id"]: []}
    for _ in range(4):
        before = {cid: chats(sim, cid) for cid in tokens}
        response = message(pool, "claude-sonnet-4-5", text=text)
        assert response.status_code == 200, response.text
        served = next(cid for cid in tokens if chats(sim, cid) > before[cid])
        tokens[served].append(response.json()["usage"]["input_tokens"])
    assert tokens[narrow["id"]] and tokens[wide["id"]], tokens
    # The simulator reports the same prompt as a share of each account's own window: the gateway
    # must multiply by the serving account's window (not the pool's) to get the same count.
    narrow_tokens, wide_tokens = tokens[narrow["id"]][0], tokens[wide["id"]][0]
    assert narrow_tokens > 0
    assert abs(narrow_tokens - wide_tokens) <= max(2, wide_tokens * 0.05), tokens
