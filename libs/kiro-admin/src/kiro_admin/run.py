"""`python -m <admin service>`: settings (a bad value: one line, exit 2), the admin key (the
configured one or the one kept in Redis; none readable: exit 1), JSON logs through the redactor,
then the skeleton's `serve` (graceful SIGTERM)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from redis.exceptions import RedisError
from starlette.types import ASGIApp

from kiro_admin.adminkey import AdminKeyError, resolve_admin_key
from kiro_admin.redact import Redactor
from kiro_admin.settings import AdminServiceSettings
from kiro_service import configure_logging, load_settings, serve

S = TypeVar("S", bound=AdminServiceSettings)


def run_admin_service(service: str, kind: type[S], create_app: Callable[[S], ASGIApp]) -> int:
    """Start `service` (its name in logs and messages) with settings `kind`, where and with the
    drain grace its `listen()` says."""
    settings = load_settings(kind, service)
    try:
        settings = resolve_admin_key(settings)  # KIRO_ADMIN_TOKEN unset: the one kept in Redis
    except (RedisError, AdminKeyError) as exc:
        configure_logging(service, "INFO", Redactor(settings.secret_values()).text)
        logging.getLogger(service).error("no admin key: %s", exc)
        return 1
    configure_logging(service, settings.log_level, Redactor(settings.secret_values()).text)
    return serve(create_app(settings), settings.listen())
