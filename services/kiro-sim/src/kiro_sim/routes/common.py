"""Small HTTP helpers shared by the route modules: JSON in and out, upstream errors.

Deliberately not here: any surface's logic.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from kiro_sim.errors import UpstreamError
from kiro_sim.tokens import new_request_id


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type="application/json", headers=headers)


def error_response(error: UpstreamError) -> Response:
    headers = {"x-amzn-RequestId": new_request_id(), **dict(error.headers)}
    return Response(error.body, status_code=error.status, media_type=error.content_type, headers=headers)


async def read_json(request: Request) -> Any:
    """The parsed JSON body, or None when it is not JSON at all."""
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None


def bearer(request: Request) -> str | None:
    return request.headers.get("authorization")
