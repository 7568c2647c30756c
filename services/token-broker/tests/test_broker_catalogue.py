"""The eligibility step of the acquire script against real Redis: catalogue, lacking marks and
retirement decide which accounts a lease for a model may go to; the grant carries the serving
account's catalogue entry."""

from __future__ import annotations

from broker_helpers import BusClient, StartBroker, cred, creds_json

from kiroproto.bus import CatalogueModel, DenialReason, LeaseDenied, LeaseGrant, Outcome
from token_broker import records as R

OPUS = CatalogueModel(id="claude-opus-4.8", context_window=272_000, rate_multiplier=2.2)
SONNET = CatalogueModel(id="claude-sonnet-4.5", context_window=200_000)


async def test_leases_follow_catalogues_and_lacking_marks(start_broker: StartBroker, bus: BusClient) -> None:
    broker = await start_broker(kiro_auth_token=creds_json(cred("small"), cred("big"), cred("unknown")))
    assert broker.catalogues is not None
    await broker.catalogues.store("small", (SONNET,))
    await broker.catalogues.store("big", (SONNET, OPUS))
    seen: set[str] = set()
    for _ in range(6):
        grant = await bus.grant(model="claude-opus-4.8")
        seen.add(grant.credential_id)
        if grant.credential_id == "big":
            assert grant.model_info == OPUS
        else:
            assert grant.model_info is None  # an unknown catalogue is eligible, with no entry
        await bus.release(grant)
    assert seen == {"big", "unknown"}
    # INVALID_MODEL_ID from "unknown": not asked again for that model until a full refresh
    grant = await bus.grant(model="claude-opus-4.8", exclude=("big",))
    assert grant.credential_id == "unknown"
    await bus.release(grant, Outcome.MODEL_UNAVAILABLE, model="claude-opus-4.8")
    denied = await bus.acquire(model="claude-opus-4.8", exclude=("big",))
    assert isinstance(denied, LeaseDenied) and denied.reason == DenialReason.NO_CREDENTIAL
    assert isinstance(await bus.acquire(model="claude-sonnet-4.5", exclude=("big", "small")), LeaseGrant)
    await broker.catalogues.store("unknown", (SONNET, OPUS))  # a full refresh clears the marks
    grant = await bus.grant(model="claude-opus-4.8", exclude=("big",))
    assert grant.credential_id == "unknown" and grant.model_info == OPUS
    status = {c.id: c for c in (await bus.status()).credentials}
    assert [m.id for m in status["small"].models] == ["claude-sonnet-4.5"]
    assert status["small"].catalogue_at is not None and status["unknown"].source == "config"
    pool = await broker.catalogues.pool_models()
    assert [m.id for m in pool.models] == ["claude-opus-4.8", "claude-sonnet-4.5"]
    assert (pool.accounts, pool.unknown_accounts) == (3, 0)


async def test_a_retired_account_takes_no_lease(start_broker: StartBroker, bus: BusClient) -> None:
    broker = await start_broker(kiro_auth_token=creds_json(cred("a")))
    assert broker.store is not None
    await broker.store.patch("a", {R.RETIRED: "1", R.RETIRED_REASON: "removed from KIRO_AUTH_TOKEN"})
    denied = await bus.acquire()
    assert isinstance(denied, LeaseDenied)
    (state,) = (await bus.status()).credentials
    assert state.status.value == "retired" and state.reason == "removed from KIRO_AUTH_TOKEN"
