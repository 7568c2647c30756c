"""The error root: each class declares its HTTP answer; one renderer, messages redacted; a Redis
failure that reaches a route is a 503 (fail closed)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from redis.exceptions import ConnectionError as RedisConnectionError

from kiro_admin import AdminAuthError, AdminError, CsrfRejected, Redactor, install_error_handlers

SECRET = "my-admin-key-0123456789"


class Teapot(AdminError, status=418, kind="teapot_error"):
    pass


class Inherits(Teapot):
    pass


def test_the_class_keywords_set_the_answer() -> None:
    assert (AdminError.status_code, AdminError.error_type) == (500, "api_error")
    assert (AdminAuthError.status_code, AdminAuthError.error_type) == (401, "authentication_error")
    assert (CsrfRejected.status_code, CsrfRejected.error_type) == (403, "permission_error")
    assert (Inherits.status_code, Inherits.error_type) == (418, "teapot_error")


async def test_one_renderer_for_every_admin_error() -> None:
    app = FastAPI()
    install_error_handlers(app, Redactor([SECRET]))

    @app.get("/teapot")
    async def teapot() -> None:
        raise Inherits(f"no coffee with {SECRET}")

    @app.get("/redis")
    async def redis_down() -> None:
        raise RedisConnectionError("connection refused")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        teapot_answer = await client.get("/teapot")
        assert teapot_answer.status_code == 418
        assert teapot_answer.json() == {
            "error": {"type": "teapot_error", "message": "no coffee with [redacted]"}
        }
        redis_answer = await client.get("/redis")
        assert redis_answer.status_code == 503
        assert redis_answer.json()["error"]["message"] == "Redis unavailable"
