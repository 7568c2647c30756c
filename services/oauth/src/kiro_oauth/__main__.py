"""`python -m kiro_oauth`: settings from the environment, the admin key, JSON logs, then uvicorn
on OAUTH_PORT with the graceful SIGTERM of `kiro_service.serve` (requests in flight get 5 s)."""

from __future__ import annotations

import sys

from kiro_admin import run_admin_service
from kiro_oauth.app import create_app
from kiro_oauth.settings import Settings


def main() -> int:
    return run_admin_service("oauth", Settings, create_app)


if __name__ == "__main__":
    sys.exit(main())
