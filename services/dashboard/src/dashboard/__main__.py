"""`python -m dashboard`: settings from the environment, the admin key, JSON logs, then uvicorn
on DASHBOARD_PORT with the graceful SIGTERM of `kiro_service.serve` (the live streams end at
once, requests in flight get 5 s)."""

from __future__ import annotations

import sys

from dashboard.app import create_app
from dashboard.settings import Settings
from kiro_admin import run_admin_service
from kiro_service import Listen


def listen(settings: Settings) -> Listen:
    return Listen("dashboard", settings.dashboard_host, settings.dashboard_port, grace_s=5)


def main() -> int:
    return run_admin_service("dashboard", Settings, create_app, listen)


if __name__ == "__main__":
    sys.exit(main())
