"""`/api/keys`: team keys (admin). The key itself is in the create answer only; the broker
stores its SHA-256, so it can never be shown again.

    GET    /api/keys[?team=]        list (no secrets: id, team, name, hint, limits, times, status)
    POST   /api/keys                create: JSON {team, name?, allowed_models?, limits?, expires_at?}
                                    (limits may also be given flat); 201 {key, secret}
    GET    /api/keys/{id}           one key
    PATCH  /api/keys/{id}           change name, allowed_models, limits, expires_at (null: none)
    DELETE /api/keys/{id}           revoke (also POST /api/keys/{id}/revoke); refused on every
                                    gateway replica as soon as they hear the broker's event
`expires_at` is an ISO-8601 time or epoch seconds. Writes need the CSRF token with a session.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dashboard.deps import Admin, AdminWrite, AppState
from dashboard.teams_client import TeamsClient
from kiroproto.bus import KeyCreate, KeyLimits, KeyUpdate, Subjects, TeamKey

router = APIRouter(prefix="/api")
log = logging.getLogger(__name__)

KeyId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
_FLAT_LIMITS = (
    "requests_per_minute",
    "tokens_per_minute",
    "max_concurrent",
    "monthly_token_budget",
    "monthly_credit_budget",
)


def client(state: AppState) -> TeamsClient:
    settings = state.settings
    return TeamsClient(
        state.admin.nc,
        Subjects(settings.kiro_bus_namespace),
        settings.dashboard_broker_timeout,
        state.metrics.observe_nats,
    )


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def key_json(key: TeamKey, now: float | None = None) -> dict[str, Any]:
    now = datetime.now(UTC).timestamp() if now is None else now
    if key.revoked_at is not None:
        status = "revoked"
    elif key.expires_at is not None and key.expires_at <= now:
        status = "expired"
    else:
        status = "active"
    return {
        **key.model_dump(mode="json"),
        "status": status,
        "created": _iso(key.created_at),
        "expires": _iso(key.expires_at),
        "revoked": _iso(key.revoked_at),
    }


def _epoch(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            return float(text)
        except ValueError:
            pass
        parsed = datetime.fromisoformat(text)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    raise ValueError("expires_at must be an ISO-8601 time or epoch seconds")


class KeyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team: str | None = None
    name: str | None = None
    allowed_models: list[str] | None = None
    limits: KeyLimits | None = None
    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)
    max_concurrent: int | None = Field(default=None, ge=1)
    monthly_token_budget: int | None = Field(default=None, ge=0)
    monthly_credit_budget: float | None = Field(default=None, ge=0)
    expires_at: float | None = None

    @field_validator("expires_at", mode="before")
    @classmethod
    def _expiry(cls, value: Any) -> float | None:
        return _epoch(value)

    def merged_limits(self, base: KeyLimits | None = None) -> KeyLimits | None:
        flat = {name: getattr(self, name) for name in _FLAT_LIMITS if name in self.model_fields_set}
        if self.limits is None and not flat:
            return None
        values = (self.limits or base or KeyLimits()).model_dump()
        values.update(flat)
        return KeyLimits(**values)


def _error(status: int, message: str) -> JSONResponse:
    error_type = "not_found_error" if status == 404 else "invalid_request_error"
    return JSONResponse({"error": {"type": error_type, "message": message}}, status_code=status)


async def _body(request: Request) -> KeyBody:
    return KeyBody.model_validate_json(await request.body() or b"{}")


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5])


@router.get("/keys")
async def list_keys(state: AppState, _admin: Admin, team: str | None = Query(default=None)) -> JSONResponse:
    keys = (await client(state).list_keys(team)).keys
    return JSONResponse({"keys": [key_json(k) for k in keys]})


@router.post("/keys")
async def create_key(request: Request, state: AppState, principal: AdminWrite) -> JSONResponse:
    try:
        body = await _body(request)
        if not body.team:
            return _error(400, "team is required")
        create = KeyCreate(
            team=body.team,
            name=body.name or "",
            allowed_models=tuple(body.allowed_models or ()),
            limits=body.merged_limits() or KeyLimits(),
            expires_at=body.expires_at,
        )
    except ValidationError as exc:
        return _error(400, _problems(exc))
    except ValueError as exc:
        return _error(400, str(exc))
    created = await client(state).create_key(create)
    if not created.ok or created.key is None:
        return _error(400, created.message or "the key was not created")
    log.info(
        "team key created", extra={"key_id": created.key.id, "team": created.key.team, "via": principal.via}
    )
    # not scrubbed: the key is shown here once and never again
    return JSONResponse({"key": key_json(created.key), "secret": created.secret}, status_code=201)


async def _find(state: AppState, key_id: str) -> TeamKey | None:
    return next((k for k in (await client(state).list_keys()).keys if k.id == key_id), None)


@router.get("/keys/{key_id}")
async def get_key(state: AppState, _admin: Admin, key_id: KeyId) -> JSONResponse:
    key = await _find(state, key_id)
    if key is None:
        return _error(404, f"no key {key_id}")
    return JSONResponse({"key": key_json(key)})


@router.patch("/keys/{key_id}")
async def update_key(request: Request, state: AppState, principal: AdminWrite, key_id: KeyId) -> JSONResponse:
    try:
        body = await _body(request)
    except ValidationError as exc:
        return _error(400, _problems(exc))
    except ValueError as exc:
        return _error(400, str(exc))
    if body.team is not None:
        return _error(400, "a key's team cannot change: create a key for the other team")
    current = await _find(state, key_id)
    if current is None:
        return _error(404, f"no key {key_id}")
    update = KeyUpdate(
        id=key_id,
        name=body.name,
        allowed_models=tuple(body.allowed_models) if body.allowed_models is not None else None,
        limits=body.merged_limits(current.limits),
        expires_at=body.expires_at,
        clear_expiry="expires_at" in body.model_fields_set and body.expires_at is None,
    )
    reply = await client(state).update_key(update)
    if not reply.ok or reply.key is None:
        return _error(409, reply.message or "the key was not changed")
    log.info("team key updated", extra={"key_id": key_id, "via": principal.via})
    return JSONResponse({"key": key_json(reply.key)})


@router.delete("/keys/{key_id}")
async def revoke_key(state: AppState, principal: AdminWrite, key_id: KeyId) -> JSONResponse:
    reply = await client(state).revoke_key(key_id)
    if not reply.ok or reply.key is None:
        return _error(404, reply.message or f"no key {key_id}")
    log.info("team key revoked", extra={"key_id": key_id, "via": principal.via})
    return JSONResponse({"key": key_json(reply.key)})


@router.post("/keys/{key_id}/revoke")
async def revoke_key_post(state: AppState, principal: AdminWrite, key_id: KeyId) -> JSONResponse:
    return await revoke_key(state, principal, key_id)
