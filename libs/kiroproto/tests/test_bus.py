"""Bus contracts: subjects per namespace, models round-trip as JSON, the lease reply union."""

from __future__ import annotations

from kiroproto.bus import (
    BROKER_QUEUE_GROUP,
    CredentialAdd,
    CredentialStatus,
    CredentialStatusKind,
    DenialReason,
    LeaseDenied,
    LeaseGrant,
    LeaseRelease,
    LeaseReplyEnvelope,
    Outcome,
    PoolStatus,
    Subjects,
    TrafficCounts,
    TrafficReport,
    UsageLimits,
)
from kiroproto.credentials import CredentialConfig


def test_subjects_are_versioned_and_namespaced() -> None:
    s = Subjects("test42")
    assert s.lease_acquire == "test42.v1.lease.acquire"
    assert s.events_traffic == "test42.v1.events.traffic"
    assert Subjects().pool_status == "kiro.v1.pool.status"
    assert BROKER_QUEUE_GROUP == "token-broker"


def test_lease_reply_union_round_trip() -> None:
    grant = LeaseGrant(
        lease_id="l1",
        credential_id="c1",
        auth="Social",
        access_token="aoaX",
        token_fingerprint="fp",
        region="us-east-1",
        machine_id="m" * 64,
        lease_ttl_s=60,
    )
    env = LeaseReplyEnvelope.model_validate_json(LeaseReplyEnvelope(reply=grant).model_dump_json())
    assert isinstance(env.reply, LeaseGrant) and env.reply.access_token == "aoaX"
    denied = LeaseDenied(reason=DenialReason.POOL_BUSY, message="busy", retry_after_s=3)
    env2 = LeaseReplyEnvelope.model_validate_json(LeaseReplyEnvelope(reply=denied).model_dump_json())
    assert isinstance(env2.reply, LeaseDenied) and env2.reply.reason is DenialReason.POOL_BUSY


def test_release_and_status_models() -> None:
    rel = LeaseRelease(lease_id="l", credential_id="c", outcome=Outcome.THROTTLED, retry_after_s=5)
    assert LeaseRelease.model_validate_json(rel.model_dump_json()) == rel
    usage = UsageLimits(
        base_limit=50,
        base_used=10,
        free_trial_limit=500,
        free_trial_used=37,
        free_trial_active=True,
        bonus_limit=100,
    )
    assert usage.limit == 650 and usage.used == 47 and usage.remaining == 603
    assert UsageLimits(base_limit=1, base_used=5).remaining == 0
    status = CredentialStatus(id="c", auth="IdC", status=CredentialStatusKind.ACTIVE, usage=usage)
    pool = PoolStatus(total=1, active=1, in_flight=0, credentials=(status,), generated_at=1.0)
    assert PoolStatus.model_validate_json(pool.model_dump_json()) == pool


def test_credential_add_and_traffic_report() -> None:
    add = CredentialAdd(credential=CredentialConfig.model_validate({"refreshToken": "aorX"}))
    again = CredentialAdd.model_validate_json(add.model_dump_json(by_alias=True))
    assert again.credential.refresh_token == "aorX"
    report = TrafficReport(replica="gw-1", seconds=[TrafficCounts(second=1, counts={"n": 2, "lat:3": 2})])
    assert TrafficReport.model_validate_json(report.model_dump_json()) == report
