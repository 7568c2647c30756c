"""The static assets the admin pages share (`static/app.css`: one look for the dashboard and the
oauth page), served beside each service's own files from one mount."""

from __future__ import annotations

from pathlib import Path

from starlette.staticfiles import StaticFiles


def admin_static(directory: Path) -> StaticFiles:
    """A mount serving `directory` (the service's own assets) and, behind it, the shared ones."""
    return StaticFiles(directory=directory, packages=[("kiro_admin", "static")])
