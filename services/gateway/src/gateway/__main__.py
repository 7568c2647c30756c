"""`python -m gateway`: read Settings, configure JSON logging once, run uvicorn (uvloop, httptools).

A configuration problem (no `KIRO_CLIENT_TOKEN`, a bad duration, an unreadable model map) is
reported as one line on stderr and exit code 2.

SIGTERM (or Ctrl-C): the listening socket closes at once (so the instance is no longer ready and
takes no new connection), idle keep-alive connections close, requests and streams in flight get
`GATEWAY_SHUTDOWN_GRACE` to finish (their leases are released as they end; what is still running
then is cancelled and released as `cancelled`), the lifespan closes NATS, and the process exits
0. A second Ctrl-C stops at once.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

import uvicorn
from pydantic import ValidationError

from gateway.app import create_app
from gateway.settings import Settings, describe_settings_error
from gateway.workers import run_workers
from kiro_service import attach_limits, configure_logging, load_limits, raise_open_file_limit, server_options


def main() -> int:
    try:
        settings = Settings()  # read from the environment
    except ValidationError as exc:
        sys.stderr.write(f"gateway: {describe_settings_error(exc)}\n")
        return 2
    configure_logging("gateway", settings.log_level)
    limits = load_limits("gateway")  # HTTP_* inbound limits (kiro_service.inbound)
    raise_open_file_limit()
    if settings.gateway_workers > 1:  # several processes on one port (workers.py)
        return run_workers(settings)
    try:
        app = create_app(settings)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"gateway: invalid configuration: {exc}\n")
        return 2
    config = uvicorn.Config(
        app,
        host=settings.gateway_host,
        port=settings.port,
        loop="uvloop",
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(1, round(settings.gateway_shutdown_grace)),
        server_header=False,
        **server_options(limits),
    )
    attach_limits(config, limits)
    server = GracefulServer(config)
    server.run()
    return 0 if server.started else 1


class GracefulServer(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its graceful shutdown (exit status -15); the gateway has
    drained by then, so it exits 0 and orchestrators see a clean stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
