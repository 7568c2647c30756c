"""Kiro2API admin dashboard: the live pool view, the traffic charts and `/api/tokens`."""

from __future__ import annotations

from dashboard.app import create_app
from dashboard.settings import Settings

__all__ = ["Settings", "create_app"]
