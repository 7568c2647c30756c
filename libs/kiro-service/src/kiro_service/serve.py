"""Starting a service: settings, then uvicorn with a graceful SIGTERM.

A service's `__main__` reads:

    settings = load_settings(Settings, "gateway")   # a bad value: one line on stderr, exit 2
    configure_logging("gateway", settings.log_level)
    return serve(create_app(settings), Listen("gateway", settings.host, settings.port, grace_s=30))

`serve` runs uvicorn the same way for every service: uvloop, the inbound-limited HTTP/1.1
protocol (`inbound.py`, `HTTP_*` settings), no access log (each service logs its own request
line), no `server` header, the open-file limit raised. SIGTERM or Ctrl-C:

1. readiness turns false (`/readyz` answers 503 `draining`, `health.Health.begin_drain`);
2. the listener closes (no new connection) and idle keep-alive connections close;
3. requests and streams in flight get the service's grace period (`Listen.grace_s`) to finish;
   uvicorn cancels what still runs then;
4. the lifespan's shutdown closes the service's connections, and the process exits 0.

A second Ctrl-C stops at once. `serve_workers` runs several processes on one port (each builds
its app through an import-string factory; uvicorn's supervisor forwards the signal to each, and
each worker is uvicorn's own server: its listener closes at once, which is what takes it out of
rotation, but `/readyz` is not turned to `draining` first; `PROMETHEUS_MULTIPROC_DIR` merges the
workers' metrics).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any, TypeVar

import uvicorn
from pydantic import ValidationError
from starlette.types import ASGIApp

from kiro_service.health import HEALTH_KEY, Health
from kiro_service.inbound import (
    InboundLimits,
    attach_limits,
    load_limits,
    raise_open_file_limit,
    server_options,
)
from kiro_service.settings import BaseServiceSettings, describe_settings_error

log = logging.getLogger(__name__)

S = TypeVar("S", bound=BaseServiceSettings)

CONFIG_ERROR = 2  # the exit status of a configuration problem


@dataclass(frozen=True, slots=True)
class Listen:
    """Where and how a service listens: its name (for messages), address, port, and how long
    requests in flight may run on after SIGTERM."""

    service: str
    host: str
    port: int
    grace_s: float = 10.0


def config_error(service: str, message: str) -> SystemExit:
    """Write `<service>: <message>` on stderr; raise the returned SystemExit (status 2)."""
    sys.stderr.write(f"{service}: {message}\n")
    return SystemExit(CONFIG_ERROR)


def load_settings(kind: type[S], service: str, **values: Any) -> S:
    """The service's settings from the environment (and `.env`; `values` win, e.g. command-line
    flags); a missing or bad value ends the process with one line on stderr and exit status 2."""
    try:
        return kind(**values)
    except ValidationError as exc:
        raise config_error(service, describe_settings_error(exc, kind.MISSING_HINTS)) from None


def uvicorn_options(listen: Listen, limits: InboundLimits) -> dict[str, Any]:
    """The `uvicorn.Config` keywords every service runs with (one process or several)."""
    return {
        "host": listen.host,
        "port": listen.port,
        "loop": "uvloop",
        "log_config": None,
        "access_log": False,
        "lifespan": "on",
        "server_header": False,
        "timeout_graceful_shutdown": max(1, round(listen.grace_s)),
        **server_options(limits),  # HTTP_* inbound limits
    }


def serve(app: ASGIApp, listen: Listen) -> int:
    """Run `app` until SIGTERM / Ctrl-C and its drain; 0 after a clean stop, 1 when it never
    started (the port taken, the lifespan failed)."""
    limits = load_limits(listen.service)
    raise_open_file_limit()
    config = uvicorn.Config(app, **uvicorn_options(listen, limits))
    attach_limits(config, limits)
    server = GracefulServer(config)
    server.run()
    return 0 if server.started else 1


def serve_workers(factory: str, listen: Listen, workers: int) -> int:
    """`workers` processes on one port, each building its app with `factory`
    (`"package.module:function"`, read from the environment in the worker)."""
    limits = load_limits(listen.service)  # each worker reads the HTTP_* limits itself too
    raise_open_file_limit()
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        log.warning("several workers without PROMETHEUS_MULTIPROC_DIR: /metrics shows one worker only")
    uvicorn.run(factory, factory=True, workers=workers, **uvicorn_options(listen, limits))
    return 0


class GracefulServer(uvicorn.Server):
    """uvicorn with the services' SIGTERM: readiness false first, then uvicorn's own graceful
    shutdown; the signal is not raised again afterwards (uvicorn does, which would make the
    exit status -15 after a clean drain)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        originals = {sig: signal.signal(sig, self._on_signal) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
            return
        health = self._health()
        if health is not None:
            health.begin_drain()
        self.should_exit = True

    def _health(self) -> Health | None:
        lifespan = getattr(self, "lifespan", None)
        state = getattr(lifespan, "state", None)
        value = state.get(HEALTH_KEY) if isinstance(state, dict) else None
        return value if isinstance(value, Health) else None
