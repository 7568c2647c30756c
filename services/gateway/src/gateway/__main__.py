"""`python -m gateway`: read Settings, configure JSON logging once, run uvicorn (uvloop, httptools).

A configuration problem (no `KIRO_CLIENT_TOKEN`, a bad duration, an unreadable model map) is
reported as one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from gateway.app import create_app
from gateway.logs import configure_logging
from gateway.settings import Settings, describe_settings_error


def main() -> int:
    try:
        settings = Settings()  # read from the environment
    except ValidationError as exc:
        sys.stderr.write(f"gateway: {describe_settings_error(exc)}\n")
        return 2
    configure_logging(settings.log_level)
    try:
        app = create_app(settings)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"gateway: invalid configuration: {exc}\n")
        return 2
    uvicorn.run(
        app,
        host=settings.gateway_host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
