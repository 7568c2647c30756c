"""The fixtures start real, isolated servers that the clients can use, kill and restart."""

from __future__ import annotations

import nats
import pytest
import redis.asyncio as aioredis
from nats.aio.msg import Msg

from kiro_testing import NatsServer, RedisServer

pytestmark = pytest.mark.integration


async def test_nats_request_reply(nats_server: NatsServer) -> None:
    assert nats_server.port != 4222
    nc = await nats.connect(nats_server.url)
    try:

        async def handler(msg: Msg) -> None:
            await msg.respond(b"pong:" + msg.data)

        await nc.subscribe("t.ping", cb=handler)
        reply = await nc.request("t.ping", b"x", timeout=2)
        assert reply.data == b"pong:x"
    finally:
        await nc.close()


async def test_redis_survives_restart(own_redis: RedisServer) -> None:
    assert own_redis.port != 6379
    r = aioredis.Redis.from_url(own_redis.url)
    await r.set("k", "v")
    await r.aclose()
    own_redis.kill()
    own_redis.start()
    r = aioredis.Redis.from_url(own_redis.url)
    try:
        assert await r.get("k") == b"v"
    finally:
        await r.aclose()
