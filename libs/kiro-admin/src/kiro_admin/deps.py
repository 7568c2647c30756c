"""FastAPI dependencies for admin routes: `Admin` (read) and `AdminWrite` (a change: a session
must also carry its CSRF token). Both read the `AdminAuth` the service's lifespan put in its
state under `auth`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from kiro_admin.auth import AdminAuth, Principal


def admin_auth(request: Request) -> AdminAuth:
    auth: AdminAuth = request.state.auth
    return auth


async def require_admin(request: Request) -> Principal:
    return await admin_auth(request).require(request, write=False)


async def require_admin_write(request: Request) -> Principal:
    return await admin_auth(request).require(request, write=True)


Admin = Annotated[Principal, Depends(require_admin)]
AdminWrite = Annotated[Principal, Depends(require_admin_write)]
