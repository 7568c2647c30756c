"""The FastAPI app every admin service starts from: no generated docs, the skeleton's
`/healthz`, `/readyz` and `/metrics`, the error renderer, the access log and security headers
(and, when given, the request-body cap). The service adds its routes and static mount."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI

from kiro_admin.errors import install_error_handlers
from kiro_admin.middleware import AccessMiddleware, BodyCapMiddleware
from kiro_admin.redact import Redactor
from kiro_service import health_routes
from kiro_service.metrics import ServiceMetrics

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[dict[str, Any]]]


def admin_app(
    title: str,
    lifespan: Lifespan,
    *,
    metrics: ServiceMetrics,
    redactor: Redactor,
    logger: str,
    max_body_bytes: int | None = None,
) -> FastAPI:
    app = FastAPI(title=title, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.router.routes.extend(health_routes())
    install_error_handlers(app, redactor)
    if max_body_bytes is not None:
        app.add_middleware(BodyCapMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(AccessMiddleware, counter=metrics.http_requests, logger=logging.getLogger(logger))
    return app
