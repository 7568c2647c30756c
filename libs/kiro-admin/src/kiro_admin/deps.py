"""FastAPI dependencies for admin routes: `Admin` (read) and `AdminWrite` (a change: a session
must also carry its CSRF token). Both use the `AdminAuth` of the service's lifespan state (an
`runtime.AdminState`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from kiro_admin.auth import AdminAuth, Principal
from kiro_admin.runtime import AdminState
from kiro_service import service_state


def admin_auth(request: Request) -> AdminAuth:
    return service_state(request, AdminState).admin.auth


async def require_admin(request: Request) -> Principal:
    return await admin_auth(request).require(request, write=False)


async def require_admin_write(request: Request) -> Principal:
    return await admin_auth(request).require(request, write=True)


Admin = Annotated[Principal, Depends(require_admin)]
AdminWrite = Annotated[Principal, Depends(require_admin_write)]
