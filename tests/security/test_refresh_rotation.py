"""Finding 5: a rotated refresh token is lost if Redis fails during the refresh.

Reproduced as the review did: rotation on, the refresh answered 4 s late (after the upstream
already rotated), redis-server SIGKILLed 1.5 s into the refresh and started again. Before the
fix Redis kept the old token, the next refresh got `invalid_grant` and the credential became
invalid. Now the broker keeps the rotated token, puts it in `OAUTH_TOKEN_FILE` at once, and
stores it in Redis as soon as Redis is back.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import anthropic
import pytest

from kiro_testing import RedisServer
from kiro_testing.polling import poll
from kiro_testing.pytest_plugin import Stacks
from kiro_testing.sim import Sim, credential
from kiro_testing.stack import CLIENT_TOKEN, Stack, StackConfig
from kiroproto.credentials import fingerprint

pytestmark = pytest.mark.integration

MODEL = "claude-sonnet-4-6"


def ask(pool: Stack, text: str) -> str:
    client = anthropic.Anthropic(base_url=pool.gateway_url(), api_key=CLIENT_TOKEN, max_retries=0, timeout=60)
    with client as c:
        message = c.messages.create(
            model=MODEL,
            max_tokens=32,
            messages=[{"role": "user", "content": f"{text}<<sim:{json.dumps({'text': text})}>>"}],
        )
    return message.content[0].text  # type: ignore[union-attr]


def stored_refresh_fp(pool: Stack, account_id: str) -> tuple[str, str | None] | None:
    try:
        status = pool.pool_status_sync()
    except Exception:  # broker or Redis still coming back
        return None
    for cred in status.credentials:
        if cred.id == account_id:
            return cred.status.value, cred.refresh_token_fingerprint
    return None


def test_rotation_survives_a_redis_crash_during_the_refresh(
    sim: Sim, own_redis: RedisServer, tmp_path: Path, stacks: Stacks
) -> None:
    account = sim.add_account(rotate_refresh=True)
    token_file = tmp_path / "tokens.json"
    pool = stacks(
        StackConfig(
            credentials=[credential(account)],
            env={"OAUTH_TOKEN_FILE": str(token_file), "BROKER_HTTP_TIMEOUT": "20s"},
        ),
        sim=sim,
        redis_url=own_redis.url,
    )
    try:
        assert ask(pool, "warm") == "warm"
        before = sim.account(account["id"])["refresh_token"]

        sim.patch_account(account["id"], refresh_delay_seconds=4)
        sim.expire_access_tokens(account["id"])  # the next request refreshes (and rotates)
        outcome: dict[str, Any] = {}

        def during_outage() -> None:
            try:
                outcome["text"] = ask(pool, "during")
            except Exception as exc:  # the request may fail while Redis is down: that is allowed
                outcome["error"] = exc

        client = threading.Thread(target=during_outage)
        client.start()
        poll(lambda: sim.account(account["id"])["refresh_token"] != before, timeout=10, message="rotation")
        rotated = sim.account(account["id"])["refresh_token"]
        time.sleep(1.5 - 0.1)
        own_redis.kill()  # SIGKILL while the broker waits for the slow refresh answer

        # The answer arrives while Redis is down: the file mirror holds the new token at once.
        def file_has_rotation() -> bool:
            try:
                entries = json.loads(token_file.read_text())
            except (OSError, ValueError):
                return False
            return any(e.get("id") == account["id"] and e.get("refreshToken") == rotated for e in entries)

        poll(file_has_rotation, timeout=15, message="rotated token in OAUTH_TOKEN_FILE")
        own_redis.start()
        client.join(timeout=60)

        # Redis gets the rotated token as soon as it is back, and the credential stays active.
        poll(
            lambda: stored_refresh_fp(pool, account["id"]) == ("active", fingerprint(rotated)),
            timeout=15,
            message="rotated token stored in Redis",
        )
        sim.patch_account(account["id"], refresh_delay_seconds=0)
        sim.expire_access_tokens(account["id"])
        assert ask(pool, "after") == "after"
        by_token = sim.account_stats(account["id"])["refresh_calls_by_token"]
        assert by_token.get(rotated, 0) >= 1  # refreshed with the token that was kept
        assert stored_refresh_fp(pool, account["id"]) is not None
        status = stored_refresh_fp(pool, account["id"])
        assert status is not None and status[0] == "active"
    finally:
        pool.stop()
