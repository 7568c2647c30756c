"""Kiro2API OAuth service: the `/oauth` page that adds Kiro accounts to the pool."""

from __future__ import annotations

from kiro_oauth.app import create_app
from kiro_oauth.settings import Settings

__all__ = ["Settings", "create_app"]
