"""`python -m token_broker`: settings from the environment (and .env), JSON logs, then
`kiro_service.serve` on `BROKER_PORT`. Without `KIRO_SECRET_KEY` it refuses to start (exit 2)
unless `KIRO_ALLOW_PLAINTEXT_SECRETS=true`. SIGTERM / Ctrl-C: readiness false, stop taking
requests, drain (`BROKER_DRAIN_TIMEOUT`), exit 0."""

from __future__ import annotations

import sys

from kiro_service import Listen, config_error, configure_logging, load_settings, serve
from token_broker.app import create_app
from token_broker.settings import PLAINTEXT_REFUSED, Settings


def main() -> int:
    settings = load_settings(Settings, "token-broker")
    configure_logging("token-broker", settings.log_level)
    if settings.kiro_secret_key is None and not settings.kiro_allow_plaintext_secrets:
        raise config_error("token-broker", PLAINTEXT_REFUSED)
    grace = settings.broker_drain_timeout + 1  # the lifespan drains; uvicorn waits a little longer
    listen = Listen("token-broker", settings.broker_host, settings.broker_port, grace)
    return serve(create_app(settings), listen)


if __name__ == "__main__":
    sys.exit(main())
