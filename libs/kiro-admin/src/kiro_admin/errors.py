"""The error root of the admin services and its one renderer.

Every error carries the HTTP answer it gets (`status_code`, `error_type`), declared on the class:
`class CsrfRejected(AdminAuthError, status=403, kind="permission_error")`. A service installs
`install_error_handlers(app, redactor)` once and raises; the body is always
`{"error": {"type": ..., "message": ...}}`, the message passed through the redactor.

    AdminError                    500  api_error
    ├── AdminAuthError            401  (auth.py: NotAuthenticated, CsrfRejected, AuthUnavailable)
    └── each service's own tree        (e.g. kiro_oauth.errors.OAuthError)

A `RedisError` that reaches a route is answered 503 "Redis unavailable" (fail closed).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from kiro_admin.redact import Redactor

log = logging.getLogger(__name__)


class AdminError(Exception):
    """Root. Subclasses set `status` and `kind` as class keywords."""

    status_code: ClassVar[int] = 500
    error_type: ClassVar[str] = "api_error"

    def __init_subclass__(cls, *, status: int | None = None, kind: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status_code = status
        if kind is not None:
            cls.error_type = kind


def error_response(status: int, error_type: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": error_type, "message": message}}, status_code=status)


def install_error_handlers(app: FastAPI, redactor: Redactor) -> None:
    """Render `AdminError` (any subclass) and `RedisError` for every route of `app`."""

    async def admin_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AdminError)
        return error_response(exc.status_code, exc.error_type, redactor.text(str(exc)))

    async def redis_down(_request: Request, exc: Exception) -> JSONResponse:
        log.warning("redis unavailable", extra={"error": type(exc).__name__})
        return error_response(503, "service_unavailable", "Redis unavailable")

    app.add_exception_handler(AdminError, admin_error)
    app.add_exception_handler(RedisError, redis_down)
