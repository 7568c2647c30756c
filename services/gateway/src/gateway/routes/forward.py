"""Everything else: forwarded to the dashboard / OAuth services when configured, else 404."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.deps import State

router = APIRouter()

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@router.api_route("/{path:path}", methods=_METHODS, include_in_schema=False)
async def forward(request: Request, state: State) -> Response:
    return await state.forwarder.forward(request)
