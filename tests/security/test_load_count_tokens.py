"""Finding 3 (second half): `count_tokens` ignored team limits: a key with 5 requests per minute,
already exhausted, got 10 answers from it. Now every `count_tokens` of a team key with a
requests-per-minute limit is counted in the team's window (an admission-only round trip to the
broker, no lease) and refused with 429 + retry-after when the window is full; it also spends
the same window as `/v1/messages`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from kiro_testing.pytest_plugin import Stacks
from kiro_testing.sim import Sim
from tests.integration.teams import MODEL, Teams, message_body, team_stack

pytestmark = pytest.mark.integration

COUNT = {"model": MODEL, "messages": [{"role": "user", "content": "how many tokens is this?"}]}


@pytest.fixture(scope="module")
def stack(sim: Sim, module_stacks: Stacks) -> Iterator[Teams]:
    with team_stack(module_stacks, sim, accounts=1, gateways=1) as s:
        yield s


def count(client: httpx.Client, url: str, key: str) -> httpx.Response:
    return client.post(url + "/v1/messages/count_tokens", json=COUNT, headers={"x-api-key": key})


def test_count_tokens_falls_under_the_team_rpm_limit(stack: Teams) -> None:
    secret, _ = stack.create_key(f"count-{uuid.uuid4().hex[:6]}", requests_per_minute=5)
    url = stack.pool.gateway_url()
    headers = {"x-api-key": secret}
    with httpx.Client(timeout=30.0) as client:
        answers = [
            client.post(url + "/v1/messages/count_tokens", json=COUNT, headers=headers) for _ in range(10)
        ]
        statuses = [r.status_code for r in answers]
        assert statuses == [200] * 5 + [429] * 5, statuses
        assert all(r.json()["input_tokens"] > 0 for r in answers[:5])
        first = answers[0]
        assert first.headers["anthropic-ratelimit-requests-limit"] == "5"
        assert first.headers["anthropic-ratelimit-requests-remaining"] == "4"
        refused = answers[-1]
        assert float(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["type"] == "rate_limit_error"
        # the window is the team's, shared with /v1/messages
        message = client.post(url + "/v1/messages", json=message_body("after counting"), headers=headers)
        assert message.status_code == 429, message.text


def test_count_tokens_counts_against_an_exhausted_window(stack: Teams) -> None:
    secret, _ = stack.create_key(f"spent-{uuid.uuid4().hex[:6]}", requests_per_minute=5)
    url = stack.pool.gateway_url()
    headers = {"x-api-key": secret}
    with httpx.Client(timeout=30.0) as client:
        for i in range(5):
            response = client.post(url + "/v1/messages", json=message_body(f"m{i}"), headers=headers)
            assert response.status_code == 200, response.text
        answers = [
            client.post(url + "/v1/messages/count_tokens", json=COUNT, headers=headers) for _ in range(10)
        ]
        assert [r.status_code for r in answers] == [429] * 10
        # no limit: never a broker round trip, never refused
        free_secret, _ = stack.create_key(f"free-{uuid.uuid4().hex[:6]}")
        free = [count(client, url, free_secret) for _ in range(8)]
        assert [r.status_code for r in free] == [200] * 8
