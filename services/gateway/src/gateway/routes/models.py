"""`GET /v1/models` (and one model): a list body that both the Anthropic and OpenAI SDKs parse.

It lists what the pool can serve now (the union of the accounts' live catalogues, one item per
Claude model in the dashed Anthropic form), filtered by a team key's allow-list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.deps import ClientKey, State
from gateway.errors import NotFound
from gateway.limits import model_allowed
from gateway.record import record_of
from kiroproto.models import ModelInfo

router = APIRouter(dependencies=[ClientKey])


def model_item(info: ModelInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "type": "model",
        "object": "model",
        "display_name": info.display_name,
        "created": info.created,
        "created_at": datetime.fromtimestamp(info.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "owned_by": "anthropic",
        "context_window": info.context_window,
        "max_input_tokens": info.context_window,
        "lifecycle": "active",  # required by newer anthropic SDKs
    }


def served(request: Request, state: State) -> list[ModelInfo]:
    """The pool's models, less those outside the team key's allow-list."""
    key = record_of(request).key
    infos = state.catalogue.current.list_models()
    if key is None:
        return list(infos)
    return [i for i in infos if model_allowed(key.allowed_models, i.id, i.kiro_id)]


@router.get("/v1/models")
async def list_models(request: Request, state: State) -> Response:
    items = [model_item(info) for info in served(request, state)]
    body = {
        "object": "list",
        "data": items,
        "has_more": False,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
    }
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/v1/models/{model_id:path}")
async def get_model(model_id: str, request: Request, state: State) -> Response:
    for info in served(request, state):
        if info.id == model_id:
            return Response(orjson.dumps(model_item(info)), media_type="application/json")
    raise NotFound(f"model {model_id!r} not found")
