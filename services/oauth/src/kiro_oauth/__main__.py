"""`python -m kiro_oauth`: settings from the environment, JSON logs, uvicorn on OAUTH_PORT."""

from __future__ import annotations

import logging
import sys

import uvicorn
from pydantic import ValidationError
from redis.exceptions import RedisError

from kiro_admin import AdminKeyError, Redactor, resolve_admin_key
from kiro_oauth.app import create_app
from kiro_oauth.settings import Settings
from kiro_service import configure_logging, load_limits, raise_open_file_limit, server_options


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        configure_logging("oauth", "INFO", Redactor().text)
        reasons = "; ".join(str(err.get("msg", "invalid")) for err in exc.errors())
        logging.getLogger("kiro_oauth").error("invalid configuration: %s", reasons)
        return 2
    try:
        settings = resolve_admin_key(settings)  # KIRO_ADMIN_TOKEN unset: the one kept in Redis
    except (RedisError, AdminKeyError) as exc:
        configure_logging("oauth", "INFO", Redactor(settings.secret_values()).text)
        logging.getLogger("kiro_oauth").error("no admin key: %s", exc)
        return 1
    configure_logging("oauth", settings.log_level, Redactor(settings.secret_values()).text)
    limits = load_limits("oauth")
    raise_open_file_limit()
    uvicorn.run(
        create_app(settings),
        host=settings.oauth_host,
        port=settings.oauth_port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        **server_options(limits),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
