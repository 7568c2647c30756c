"""`python -m token_broker`: JSON logs, settings from the environment (and .env), uvicorn on
BROKER_PORT. SIGTERM / Ctrl-C: stop taking requests, drain, exit 0."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

import uvicorn
from pydantic import ValidationError

from kiro_service import attach_limits, configure_logging, load_limits, raise_open_file_limit, server_options
from token_broker.app import create_app
from token_broker.settings import Settings

log = logging.getLogger("token_broker")


class GracefulServer(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its graceful shutdown (exit status -15); the broker
    drains in its lifespan and then exits 0, so orchestrators see a clean stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        configure_logging("token-broker", "INFO")
        for err in exc.errors():
            # Never echo the input: it may be a secret.
            log.error(
                "invalid configuration: %s: %s", ".".join(str(p) for p in err["loc"]).upper(), err["msg"]
            )
        return 2
    configure_logging("token-broker", settings.log_level)
    if settings.kiro_secret_key is None and not settings.kiro_allow_plaintext_secrets:
        log.error(
            "KIRO_SECRET_KEY is not set: the broker refuses to keep refresh and access tokens in "
            "Redis as plain text. Set KIRO_SECRET_KEY to base64 of 32 random bytes (python -c "
            '"import os,base64;print(base64.b64encode(os.urandom(32)).decode())"), or '
            "KIRO_ALLOW_PLAINTEXT_SECRETS=true to accept plain text"
        )
        return 2
    limits = load_limits("token-broker")
    raise_open_file_limit()
    config = uvicorn.Config(
        create_app(settings),
        host=settings.broker_host,
        port=settings.broker_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.broker_drain_timeout) + 1,
        **server_options(limits),
    )
    attach_limits(config, limits)
    server = GracefulServer(config)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
