"""`python -m dashboard`: settings from the environment, JSON logs, uvicorn on DASHBOARD_PORT."""

from __future__ import annotations

import logging
import sys
from types import FrameType

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError
from redis.exceptions import RedisError

from dashboard.app import create_app, request_shutdown
from dashboard.settings import Settings
from kiro_admin import AdminKeyError, Redactor, resolve_admin_key
from kiro_service import attach_limits, configure_logging, load_limits, raise_open_file_limit, server_options


class _Server(uvicorn.Server):
    """Ends the live event streams as soon as a stop signal arrives."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        request_shutdown(self._app)
        super().handle_exit(sig, frame)


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        configure_logging("dashboard", "INFO", Redactor().text)
        reasons = "; ".join(str(err.get("msg", "invalid")) for err in exc.errors())
        logging.getLogger("dashboard").error("invalid configuration: %s", reasons)
        return 2
    try:
        settings = resolve_admin_key(settings)  # KIRO_ADMIN_TOKEN unset: the one kept in Redis
    except (RedisError, AdminKeyError) as exc:
        configure_logging("dashboard", "INFO", Redactor(settings.secret_values()).text)
        logging.getLogger("dashboard").error("no admin key: %s", exc)
        return 1
    configure_logging("dashboard", settings.log_level, Redactor(settings.secret_values()).text)
    limits = load_limits("dashboard")
    raise_open_file_limit()
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.dashboard_host,
        port=settings.dashboard_port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        **server_options(limits),
    )
    attach_limits(config, limits)
    _Server(config, app).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
