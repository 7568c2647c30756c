"""Team keys end to end: two gateway replicas, one broker, the dashboard's admin API, real NATS and
Redis, the Kiro simulator. Limits hold across replicas, a spent budget stops only its team,
`/api/usage` equals what the clients were told, a revoked key is refused on every replica within
5 s, and no plain key is anywhere in Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import redis

from kiro_testing import RedisServer
from kiro_testing.polling import apoll
from kiro_testing.pytest_plugin import Stacks
from kiro_testing.sim import Sim
from tests.integration.teams import MODEL, Teams, message_body, team_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(sim: Sim, module_stacks: Stacks) -> Iterator[Teams]:
    with team_stack(module_stacks, sim) as s:
        yield s


@pytest.fixture(scope="module")
def secrets_issued() -> list[str]:
    return []


def team(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


async def post(url: str, key: str, body: dict[str, Any], path: str = "/v1/messages") -> httpx.Response:
    async with httpx.AsyncClient(timeout=60.0) as client:
        return await client.post(url + path, json=body, headers={"x-api-key": key})


async def fire(stack: Teams, key: str, n: int) -> list[httpx.Response]:
    """n requests at once, spread over every gateway replica."""
    urls = [stack.pool.gateway_url(i) for i in range(len(stack.pool.gateways))]
    async with httpx.AsyncClient(timeout=60.0) as client:
        return list(
            await asyncio.gather(
                *(
                    client.post(
                        urls[i % len(urls)] + "/v1/messages",
                        json=message_body(f"n{i}"),
                        headers={"x-api-key": key},
                    )
                    for i in range(n)
                )
            )
        )


def told(responses: list[httpx.Response]) -> tuple[int, int]:
    """Input and output tokens the clients were told (non-streaming Anthropic answers)."""
    ok = [r.json()["usage"] for r in responses if r.status_code == 200]
    return sum(u["input_tokens"] for u in ok), sum(u["output_tokens"] for u in ok)


def sse_usage(text: str) -> tuple[int, int]:
    """Input / output tokens an Anthropic stream told its client (message_start, then message_delta)."""
    usage: dict[str, int] = {}
    for line in text.splitlines():
        if not line.startswith("data: "):
            continue
        event = orjson.loads(line[6:])
        if event.get("type") == "message_start":
            usage.update(event["message"]["usage"])
        elif event.get("type") == "message_delta":
            usage.update({k: v for k, v in event["usage"].items() if v is not None})
    return int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))


async def usage_equals(stack: Teams, name: str, expected: dict[str, int]) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        totals = stack.usage(team=name)["totals"]
        return totals if all(totals[k] == v for k, v in expected.items()) else None

    return dict(await apoll(check, within=10.0, message=f"usage of {name} = {expected}"))


async def test_limits_hold_across_replicas_and_usage_matches_clients(
    stack: Teams, secrets_issued: list[str]
) -> None:
    alpha, beta = team("alpha"), team("beta")
    alpha_key, _ = stack.create_key(alpha, requests_per_minute=6)
    beta_key, _ = stack.create_key(beta, requests_per_minute=15, max_concurrent=30)
    secrets_issued += [alpha_key, beta_key]

    ra, rb = await asyncio.gather(fire(stack, alpha_key, 14), fire(stack, beta_key, 24))

    for responses, limit in ((ra, 6), (rb, 15)):
        ok = [r for r in responses if r.status_code == 200]
        limited = [r for r in responses if r.status_code == 429]
        assert len(ok) + len(limited) == len(responses), [r.status_code for r in responses]
        assert abs(len(ok) - limit) <= 1, (len(ok), limit)
        for r in limited:
            assert r.json()["error"]["type"] == "rate_limit_error"
            assert "requests per minute" in r.json()["error"]["message"]
            assert int(r.headers["retry-after"]) >= 1
            assert r.headers["anthropic-ratelimit-requests-limit"] == str(limit)
            assert r.headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert {r.headers["anthropic-ratelimit-requests-limit"] for r in ok} == {str(limit)}
        assert all("anthropic-ratelimit-requests-reset" in r.headers for r in ok)

    for name, responses in ((alpha, ra), (beta, rb)):
        input_tokens, output_tokens = told(responses)
        served = sum(1 for r in responses if r.status_code == 200)
        totals = await usage_equals(
            stack,
            name,
            {
                "requests": served,
                "rejected": len(responses) - served,
                "errors": 0,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
            },
        )
        assert totals["total_tokens"] == input_tokens + output_tokens
    report = stack.usage(team=alpha)
    assert {row["team"] for row in report["rows"]} == {alpha}
    assert report["rows"][0]["model"] == "claude-sonnet-4.6"
    csv = stack.admin.get("/api/usage", params={"team": alpha, "format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("day,team,key_id,model,requests")
    assert sum(int(line.split(",")[4]) for line in lines[1:]) == sum(1 for r in ra if r.status_code == 200)


async def test_budget_stops_only_its_team_and_streams_count(stack: Teams, secrets_issued: list[str]) -> None:
    spender, other = team("spender"), team("other")
    spender_key, spender_record = stack.create_key(spender, monthly_token_budget=1)
    other_key, _ = stack.create_key(other)
    secrets_issued += [spender_key, other_key]
    url = stack.pool.gateway_url(0)

    first = await post(url, spender_key, message_body(stream=True))
    assert first.status_code == 200
    stream_in, stream_out = sse_usage(first.text)
    assert stream_in > 0 and stream_out > 0
    await usage_equals(
        stack, spender, {"requests": 1, "input_tokens": stream_in, "output_tokens": stream_out}
    )

    refused = await post(stack.pool.gateway_url(1), spender_key, message_body())
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == "rate_limit_error" and "budget" in error["message"]
    assert int(refused.headers["retry-after"]) >= 1
    openai = await post(
        url,
        spender_key,
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        "/v1/chat/completions",
    )
    assert openai.status_code == 429
    assert (
        openai.json()["error"]["type"] == "rate_limit_exceeded"
        and "budget" in openai.json()["error"]["message"]
    )

    for i in range(2):  # another team is unaffected, on both replicas
        assert (await post(stack.pool.gateway_url(i), other_key, message_body())).status_code == 200

    report = stack.usage(team=spender)
    (row,) = report["teams"]
    assert row["budget_tokens"] == 1 and row["month_spent_tokens"] == stream_in + stream_out
    assert report["totals"]["rejected"] == 2
    keys = stack.admin.get("/api/keys", params={"team": spender}).json()["keys"]
    assert [k["id"] for k in keys] == [spender_record["id"]]
    assert "secret" not in keys[0] and spender_key not in orjson.dumps(keys).decode()
    page = stack.admin.get("/teams", params={"team": spender})
    assert page.status_code == 200 and "<progress" in page.text and spender in page.text


async def test_allow_list_and_concurrency(stack: Teams, secrets_issued: list[str]) -> None:
    haiku_key, _ = stack.create_key(team("haiku"), allowed_models=["claude-haiku*"])
    busy_name = team("busy")
    busy_key, _ = stack.create_key(busy_name, max_concurrent=2)
    secrets_issued += [haiku_key, busy_key]
    url = stack.pool.gateway_url(0)

    denied = await post(url, haiku_key, message_body())
    assert denied.status_code == 403 and denied.json()["error"]["type"] == "permission_error"
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    denied = await post(url, haiku_key, chat, "/v1/chat/completions")
    assert denied.status_code == 403 and denied.json()["error"]["type"] == "permission_denied"
    assert (await post(url, haiku_key, message_body(model="claude-haiku-4-5"))).status_code == 200

    hold = f"h{uuid.uuid4().hex[:6]}"
    held_body = message_body(f'x <<sim:{{"hold":"{hold}"}}>>')
    tasks = [asyncio.create_task(post(stack.pool.gateway_url(i % 2), busy_key, held_body)) for i in range(3)]

    def one_refused() -> httpx.Response | None:  # two are admitted and held, one is refused at once
        done = [t.result() for t in tasks if t.done()]
        return done[0] if done else None

    refused = await apoll(one_refused, within=10.0, message="a third concurrent request refused")
    assert refused.status_code == 429 and "in flight" in refused.json()["error"]["message"]

    async def released() -> bool:
        await asyncio.to_thread(stack.sim.release_hold, hold)
        return all(t.done() for t in tasks)

    await apoll(released, within=10.0, message="held requests finished")
    assert sorted(t.result().status_code for t in tasks) == [200, 200, 429]
    assert (await post(url, busy_key, message_body())).status_code == 200  # slots given back


async def test_usage_is_durable_before_the_client_is_told(stack: Teams, secrets_issued: list[str]) -> None:
    """Regression (found by `make chaos`): a gateway SIGKILLed right after answering lost the
    usage record it still held in memory. The record must be acknowledged by the broker before
    the client sees the final usage, so it is in `/api/usage` at once, with no polling."""
    name = team("killed")
    key, _ = stack.create_key(name)
    secrets_issued.append(key)
    last = len(stack.pool.gateways) - 1
    url = stack.pool.gateway_url(last)
    plain = await post(url, key, message_body("durable"))
    streamed = await post(url, key, message_body("durable stream", stream=True))
    stack.pool.gateways[last].kill()  # nothing may live only in the killed gateway's memory
    try:
        assert plain.status_code == 200 and streamed.status_code == 200
        stream_in, stream_out = sse_usage(streamed.text)
        plain_in, plain_out = told([plain])
        totals = stack.usage(team=name)["totals"]
        assert totals["requests"] == 2
        assert totals["input_tokens"] == plain_in + stream_in
        assert totals["output_tokens"] == plain_out + stream_out
    finally:
        stack.pool.gateways[last].start()


async def test_revoked_key_refused_on_every_replica_within_5s(
    stack: Teams, secrets_issued: list[str]
) -> None:
    key, record = stack.create_key(team("revoke"))
    secrets_issued.append(key)
    urls = [stack.pool.gateway_url(i) for i in range(len(stack.pool.gateways))]
    for url in urls:  # every replica has the key cached
        assert (await post(url, key, message_body())).status_code == 200
    assert stack.revoke(record["id"])["status"] == "revoked"
    for url in urls:

        async def refused(url: str = url) -> bool:
            r = await post(url, key, message_body())
            return r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"

        await apoll(refused, within=5.0, message=f"revoked key refused by {url}")
    assert (await post(urls[0], "sk-kiro-unknown" + "x" * 30, message_body())).status_code == 401


def test_no_plain_key_in_redis(stack: Teams, redis_server: RedisServer, secrets_issued: list[str]) -> None:
    assert len(secrets_issued) >= 7  # the tests above ran first (file order)
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    seen = 0
    try:
        for name in client.scan_iter(count=1000):
            kind = client.type(name)
            values: list[str] = [str(name)]
            if kind == "string":
                values.append(str(client.get(name)))
            elif kind == "hash":
                for field, value in client.hgetall(name).items():
                    values += [str(field), str(value)]
            elif kind == "set":
                values += [str(m) for m in client.smembers(name)]
            elif kind == "zset":
                values += [str(m) for m in client.zrange(name, 0, -1)]
            elif kind == "list":
                values += [str(m) for m in client.lrange(name, 0, -1)]
            blob = "\n".join(values)
            seen += 1
            for secret in secrets_issued:
                assert secret not in blob, f"a plain team key is in Redis key {name!r}"
                assert secret[8:] not in blob
    finally:
        client.close()
    assert seen > 0
