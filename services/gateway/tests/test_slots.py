"""The replica's held slots (lease reuse): a success inside the window keeps the slot for the
next request, everything else ends it with one release that counts every use."""

from __future__ import annotations

import asyncio

import pytest
from gw_fakes import lease_grant

from gateway.slots import Slots
from kiroproto.bus import LeaseGrant, LeaseRelease, Outcome

MODEL = "claude-sonnet-4.5"


def grant(lease_id: str, credential_id: str = "a", reuse_s: float = 5.0) -> LeaseGrant:
    return lease_grant(lease_id, credential_id, lease_ttl_s=60.0, reuse_s=reuse_s)


def ended(g: LeaseGrant, outcome: Outcome = Outcome.SUCCESS, tokens: int = 10) -> LeaseRelease:
    return LeaseRelease(
        lease_id=g.lease_id,
        credential_id=g.credential_id,
        outcome=outcome,
        input_tokens=tokens,
        output_tokens=tokens // 2,
        model=MODEL,
    )


class Sent:
    def __init__(self) -> None:
        self.releases: list[LeaseRelease] = []

    def __call__(self, release: LeaseRelease) -> None:
        self.releases.append(release)


def slots(linger_s: float = 0.05) -> tuple[Slots, Sent]:
    sent = Sent()
    return Slots(release=sent, linger_s=linger_s), sent


async def test_a_success_keeps_the_slot_for_the_next_request_and_the_last_release_counts_all() -> None:
    s, sent = slots()
    g = grant("l1")
    s.adopt(g, MODEL)
    assert not s.served(g)
    assert s.finish(ended(g)) is None  # kept
    assert s.take(MODEL) == g and s.served(g)
    assert s.finish(ended(g)) is None
    assert s.take(MODEL) == g
    final = s.finish(ended(g, Outcome.THROTTLED, tokens=0))
    assert final is not None
    assert final.outcome == Outcome.THROTTLED
    assert (final.uses, final.input_tokens, final.output_tokens) == (3, 20, 10)
    assert sent.releases == [] and s.take(MODEL) is None


async def test_an_idle_slot_nobody_takes_is_released_after_the_linger() -> None:
    s, sent = slots(linger_s=0.02)
    g = grant("l1")
    s.adopt(g, MODEL)
    assert s.finish(ended(g, tokens=7)) is None
    await asyncio.sleep(0.1)
    assert [(r.lease_id, r.outcome, r.uses, r.input_tokens) for r in sent.releases] == [
        ("l1", Outcome.SUCCESS, 1, 7)
    ]
    assert s.take(MODEL) is None


async def test_no_reuse_past_the_window_or_for_a_grant_without_one() -> None:
    s, _ = slots()
    short = grant("l1", reuse_s=0.01)
    s.adopt(short, MODEL)
    await asyncio.sleep(0.03)
    final = s.finish(ended(short))
    assert final is not None and final.uses == 1
    once = grant("l2", reuse_s=0.0)  # a half-open probe, or a full pool
    s.adopt(once, MODEL)
    release = ended(once)
    assert s.finish(release) is release
    assert s.take(MODEL) is None


async def test_a_failure_ends_every_slot_of_that_credential_here() -> None:
    s, sent = slots(linger_s=10.0)
    idle, busy, other = grant("l1", "a"), grant("l2", "a"), grant("l3", "b")
    for g in (idle, busy, other):
        s.adopt(g, MODEL)
    assert s.finish(ended(idle)) is None
    assert s.finish(ended(other)) is None
    failing = grant("l4", "a")
    s.adopt(failing, MODEL)
    assert s.finish(ended(failing, Outcome.SERVER_ERROR)) is not None
    assert [r.lease_id for r in sent.releases] == ["l1"]  # the idle slot of "a" went back at once
    later = s.finish(ended(busy))  # the one in use ends with its request
    assert later is not None and later.outcome == Outcome.SUCCESS
    assert s.take(MODEL) == other  # "b" is untouched
    s.close()


@pytest.mark.parametrize("outcome", [Outcome.CANCELLED, Outcome.BAD_REQUEST])
async def test_a_fault_free_ending_releases_only_its_own_slot(outcome: Outcome) -> None:
    s, _ = slots(linger_s=10.0)
    keep, end = grant("l1"), grant("l2")
    s.adopt(keep, MODEL)
    s.adopt(end, MODEL)
    assert s.finish(ended(keep)) is None
    final = s.finish(ended(end, outcome))
    assert final is not None and final.outcome == outcome
    assert s.take(MODEL) == keep
    s.close()


async def test_waiters_get_free_slots_oldest_first_and_spares_go_idle() -> None:
    s, sent = slots(linger_s=0.02)
    g = grant("l1")
    s.adopt(g, MODEL)
    first, second = s.wait(MODEL), s.wait(MODEL)
    assert s.waiting(MODEL) == 2
    assert s.finish(ended(g)) is None
    assert first.done() and first.result() == g and not second.done()
    spare = grant("l2")
    s.hand(spare, MODEL)  # the broker's answer to an ask made for the waiters
    assert second.result() == spare and s.waiting(MODEL) == 0
    late = grant("l3")
    s.hand(late, MODEL)  # nobody waits: a spare, then released unused
    await asyncio.sleep(0.1)
    assert [(r.lease_id, r.outcome, r.uses) for r in sent.releases] == [("l3", Outcome.CANCELLED, 0)]


async def test_a_refused_ask_fails_the_oldest_waiter_and_a_cancelled_one_is_skipped() -> None:
    s, _ = slots()
    gone, first, second = s.wait(MODEL), s.wait(MODEL), s.wait(MODEL)
    gone.cancel()
    s.fail_oldest(MODEL, RuntimeError("pool busy"))
    assert isinstance(first.exception(), RuntimeError) and not second.done()
    assert s.waiting(MODEL) == 1
    once = grant("l1", reuse_s=0.0)
    s.hand(once, MODEL)  # not reusable, but a waiter may use it once
    assert second.result() == once


async def test_close_releases_idle_slots_and_keeps_none_after() -> None:
    s, sent = slots(linger_s=10.0)
    idle, busy = grant("l1"), grant("l2")
    s.adopt(idle, MODEL)
    s.adopt(busy, MODEL)
    assert s.finish(ended(idle)) is None
    s.close()
    assert [r.lease_id for r in sent.releases] == ["l1"]
    final = s.finish(ended(busy))
    assert final is not None and final.uses == 1
    again = grant("l3")
    s.adopt(again, MODEL)
    assert s.finish(ended(again)) is not None  # nothing is held while closing


async def test_a_slot_given_back_unused_serves_the_next_request() -> None:
    s, _ = slots(linger_s=10.0)
    g = grant("l1")
    s.adopt(g, MODEL)
    assert s.finish(ended(g)) is None
    assert s.take(MODEL) == g
    s.give_back(g, MODEL)  # e.g. its team was over its limits
    assert s.take(MODEL) == g
    s.close()
