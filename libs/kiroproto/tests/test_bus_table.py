"""The bus table: one entry per subject, subjects unchanged, every request and reply round-trips."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from kiroproto.bus import (
    BROKER_ENDPOINTS,
    EVENTS,
    LEASE_ACQUIRE,
    TRAFFIC_EVENTS,
    Endpoint,
    Event,
    ServiceErrorCode,
    Subjects,
)

# The subjects deploy/nats/nats.conf grants; they must never change under the table.
KNOWN_SUFFIXES = {
    "lease_acquire": "lease.acquire",
    "lease_release": "lease.release",
    "lease_renew": "lease.renew",
    "pool_status": "pool.status",
    "pool_models": "pool.models",
    "credential_add": "credential.add",
    "credential_action": "credential.action",
    "broker_ping": "broker.ping",
    "key_create": "key.create",
    "key_list": "key.list",
    "key_update": "key.update",
    "key_revoke": "key.revoke",
    "key_lookup": "key.lookup",
    "usage_record": "usage.record",
    "usage_query": "usage.query",
    "events_credential": "events.credential",
    "events_lease": "events.lease",
    "events_catalogue": "events.catalogue",
    "events_key": "events.key",
    "events_pool": "events.pool",
    "events_traffic": "events.traffic",
}

ENTRIES: list[Endpoint[Any, Any] | Event[Any]] = [*BROKER_ENDPOINTS, *EVENTS]


def test_every_name_and_subject_is_unique() -> None:
    names = [entry.name for entry in ENTRIES]
    subjects = [entry.subject("kiro") for entry in ENTRIES]
    assert len(set(names)) == len(names)
    assert len(set(subjects)) == len(subjects)


def test_subjects_are_exactly_the_deployed_ones() -> None:
    assert {entry.name: entry.suffix for entry in ENTRIES} == KNOWN_SUFFIXES
    subjects = Subjects("ns7")
    for entry in ENTRIES:
        assert getattr(subjects, entry.name) == f"ns7.v1.{entry.suffix}" == entry.subject("ns7")
    assert LEASE_ACQUIRE.subject() == "kiro.v1.lease.acquire"
    assert TRAFFIC_EVENTS.subject("t") == "t.v1.events.traffic"


def test_endpoints_declare_known_error_codes() -> None:
    for endpoint in BROKER_ENDPOINTS:
        assert endpoint.errors <= frozenset(ServiceErrorCode)
        assert ServiceErrorCode.BAD_REQUEST in endpoint.errors  # a malformed request is always possible
    assert ServiceErrorCode(503) is ServiceErrorCode.UNAVAILABLE


def _minimal(model: type[BaseModel]) -> dict[str, Any] | None:
    """A payload for models whose fields all have defaults (None: the model needs fields)."""
    return {} if all(not f.is_required() for f in model.model_fields.values()) else None


@pytest.mark.parametrize("endpoint", BROKER_ENDPOINTS, ids=lambda e: e.name)
def test_request_and_reply_types_are_frozen_models(endpoint: Endpoint[Any, Any]) -> None:
    for model in (endpoint.request, endpoint.reply):
        assert issubclass(model, BaseModel)
        assert model.model_config.get("frozen") is True
        payload = _minimal(model)
        if payload is not None:
            message = model.model_validate(payload)
            assert model.model_validate_json(message.model_dump_json()) == message


def test_typed_round_trip_through_an_endpoint() -> None:
    request = LEASE_ACQUIRE.request(request_id="r1", model="claude-sonnet-4.5", exclude=("a",))
    assert LEASE_ACQUIRE.request.model_validate_json(request.model_dump_json()) == request
    reply = LEASE_ACQUIRE.reply.model_validate_json(
        '{"reply": {"type": "denied", "reason": "pool_busy", "message": "m", "retry_after_s": 1}}'
    )
    assert LEASE_ACQUIRE.reply.model_validate_json(reply.model_dump_json()) == reply
