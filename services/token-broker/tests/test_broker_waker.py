"""The waiting requests' wake-ups (`leases.ReleaseWaker`): one per released lease, oldest first;
a wake nobody used goes on, so no released slot is left waiting for the 250 ms poll."""

from __future__ import annotations

import asyncio

from token_broker.leases import ReleaseWaker


async def test_a_release_wakes_the_oldest_waiter_only() -> None:
    waker = ReleaseWaker()
    first, second = waker.ticket(), waker.ticket()
    waker.wake()
    assert await waker.wait(first, 1.0) is True
    assert not second.done()
    assert await waker.wait(second, 0.01) is False  # nothing more was released


async def test_a_passed_wake_says_so_and_a_timed_out_ticket_is_skipped() -> None:
    waker = ReleaseWaker()
    gone, waiting = waker.ticket(), waker.ticket()
    assert await waker.wait(gone, 0.01) is False  # timed out: cancelled, skipped by the next wake
    waker.wake(1, event=False)
    assert await waker.wait(waiting, 1.0) is False
    # woken by the pass (a timeout would have cancelled the ticket), and told it was a pass
    assert not waiting.cancelled() and waiting.result() is False


async def test_a_wake_that_reached_a_request_which_got_its_slot_goes_on() -> None:
    waker = ReleaseWaker()
    trying, next_one = waker.ticket(), waker.ticket()
    waker.wake()  # arrives while `trying` runs its acquire script
    waker.leave(trying)  # it got a slot anyway: the wake goes to the next waiter
    assert await waker.wait(next_one, 1.0) is True


async def test_a_cancelled_waiter_takes_no_wake() -> None:
    waker = ReleaseWaker()
    cancelled, next_one = waker.ticket(), waker.ticket()
    task = asyncio.create_task(waker.wait(cancelled, 5.0))
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    waker.wake()  # the client went away before the release: the next waiter gets it
    assert await waker.wait(next_one, 1.0) is True
