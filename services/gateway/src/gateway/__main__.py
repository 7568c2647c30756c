"""`python -m gateway`: settings, JSON logging, then `kiro_service.serve` (uvicorn, uvloop).

A configuration problem (no `KIRO_CLIENT_TOKEN`, a bad duration, an unreadable model map) is one
line on stderr and exit status 2. `GATEWAY_WORKERS` > 1: that many processes on one port, each
building its app from the environment (`app.app_from_env`; set `PROMETHEUS_MULTIPROC_DIR`).

SIGTERM (or Ctrl-C): readiness turns false and the listener closes at once, idle keep-alive
connections close, requests and streams in flight get `GATEWAY_SHUTDOWN_GRACE` to finish (their
leases are released as they end; what still runs then is cancelled and released as
`cancelled`), the lifespan closes NATS, and the process exits 0.
"""

from __future__ import annotations

import sys

from gateway.app import create_app
from gateway.settings import Settings
from kiro_service import Listen, config_error, configure_logging, load_settings, serve, serve_workers


def main() -> int:
    settings = load_settings(Settings, "gateway")
    configure_logging("gateway", settings.log_level)
    listen = Listen("gateway", settings.gateway_host, settings.port, settings.gateway_shutdown_grace)
    if settings.gateway_workers > 1:
        return serve_workers("gateway.app:app_from_env", listen, settings.gateway_workers)
    try:
        app = create_app(settings)
    except (OSError, ValueError) as exc:  # GATEWAY_MODEL_MAP unreadable or invalid
        raise config_error("gateway", f"invalid configuration: {exc}") from None
    return serve(app, listen)


if __name__ == "__main__":
    sys.exit(main())
