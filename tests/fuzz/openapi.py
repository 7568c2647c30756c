"""An OpenAPI 3.1 description of the gateway's client API, for schemathesis.

The gateway serves no OpenAPI document itself (`openapi_url=None`: its request models are
deliberately lenient and the real contract is the Anthropic / OpenAI one). This description is
built from the same kiroproto request models the gateway validates with, so schemathesis
generates both bodies the gateway should accept and bodies that break the schema.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from kiroproto.anthropic.request import CountTokensRequest, MessagesRequest
from kiroproto.openai.request import ChatCompletionRequest

REF = "#/components/schemas/{model}"


def _hoist(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template=REF)
    for name, sub in schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}


def gateway_openapi() -> dict[str, Any]:
    components: dict[str, Any] = {}
    bodies = {
        "/v1/messages": _hoist(MessagesRequest, components),
        "/v1/messages/count_tokens": _hoist(CountTokensRequest, components),
        "/v1/chat/completions": _hoist(ChatCompletionRequest, components),
    }
    paths: dict[str, Any] = {}
    for path, ref in bodies.items():
        paths[path] = {
            "post": {
                "operationId": path.strip("/").replace("/", "_"),
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref}}},
                "responses": {"200": {"description": "the answer"}, "default": _error("an error")},
            }
        }
    paths["/v1/models"] = {
        "get": {
            "operationId": "models",
            "responses": {"200": {"description": "list"}, "default": _error("err")},
        }
    }
    paths["/v1/models/{model_id}"] = {
        "get": {
            "operationId": "model",
            "parameters": [
                {"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {"200": {"description": "one model"}, "default": _error("err")},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Kiro2API gateway (client API)", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
        },
        "security": [{"apiKey": []}],
    }
