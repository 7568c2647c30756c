"""`python -m dashboard`: settings from the environment, the admin key, JSON logs, then uvicorn
on DASHBOARD_PORT with the graceful SIGTERM of `kiro_service.serve` (the live streams end at
once, requests in flight get 5 s)."""

from __future__ import annotations

import sys

from dashboard.app import create_app
from dashboard.settings import Settings
from kiro_admin import run_admin_service


def main() -> int:
    return run_admin_service("dashboard", Settings, create_app)


if __name__ == "__main__":
    sys.exit(main())
