"""The release tick schedule: one release that raises does not stop the others."""

from __future__ import annotations

import logging

from modelrelease_operator.handlers.schedule import RETRY_AFTER_ERROR, Key, Next, TickSchedule


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_release_that_raises_is_retried_alone_and_the_others_keep_ticking() -> None:
    clock = Clock()
    schedule = TickSchedule(clock)
    for name in ("a", "bad", "c"):
        schedule.set(("ns", name), 0)
    ran: list[str] = []

    def reconcile(key: Key) -> float | None:
        ran.append(key[1])
        if key[1] == "bad":
            # What an absurd duration did before bounds: an error before any bookkeeping.
            raise OverflowError("cannot convert float infinity to integer")
        return 2.0

    assert schedule.run_due(reconcile, logging.getLogger("test")) == 3
    assert sorted(ran) == ["a", "bad", "c"]
    clock.now += 2.0
    ran.clear()
    schedule.run_due(reconcile, logging.getLogger("test"))
    assert sorted(ran) == ["a", "c"]  # "bad" waits for its retry
    clock.now += RETRY_AFTER_ERROR - 2.0
    ran.clear()
    schedule.run_due(reconcile, logging.getLogger("test"))
    assert "bad" in ran
    assert schedule.last_pass == clock.now


def test_none_forgets_a_release_and_a_deleted_one_is_not_run() -> None:
    clock = Clock()
    schedule = TickSchedule(clock)
    schedule.set(("ns", "gone"), 0)
    schedule.set(("ns", "deleted-meanwhile"), 0)

    def reconcile(key: Key) -> float | None:
        if key[1] == "gone":
            schedule.forget(("ns", "deleted-meanwhile"))
            return None
        raise AssertionError("a release deleted during the pass must not run")

    schedule.run_due(reconcile, logging.getLogger("test"))
    assert len(schedule) == 0


def test_a_slow_release_delays_no_other_and_is_not_started_twice() -> None:
    import threading

    schedule = TickSchedule(workers=2)
    release_slow = threading.Event()
    fast_done = threading.Event()
    started: list[str] = []

    def reconcile(key: Key) -> float | None:
        started.append(key[1])
        if key[1] == "slow":  # a Prometheus that never answers
            release_slow.wait(10)
        else:
            fast_done.set()
        return 0.0

    schedule.set(("ns", "slow"), 0)
    schedule.run_due(reconcile, logging.getLogger("test"))
    schedule.set(("ns", "fast"), 0)
    schedule.run_due(reconcile, logging.getLogger("test"))
    assert fast_done.wait(5), "the fast release waited for the slow one"
    schedule.run_due(reconcile, logging.getLogger("test"))  # slow is due but still running
    assert started.count("slow") == 1
    release_slow.set()


def test_many_wakes_make_one_look_and_a_wake_never_delays_a_due_release() -> None:
    clock = Clock()
    schedule = TickSchedule(clock)
    schedule.set(("ns", "r"), 30.0)
    for _ in range(50):  # a burst of Deployment and status events
        schedule.wake(("ns", "r"))
    looks: list[Key] = []
    schedule.run_due(lambda key: looks.append(key) or 30.0, logging.getLogger("test"))
    assert looks == [("ns", "r")]
    schedule.set(("ns", "r"), -5.0)  # overdue already
    schedule.wake(("ns", "r"))
    assert schedule.due() == [("ns", "r")]


def test_a_wake_during_a_look_makes_one_more_look_right_after() -> None:
    clock = Clock()
    schedule = TickSchedule(clock)
    schedule.set(("ns", "r"), 0)

    def reconcile(key: Key) -> float | None:
        # The look has read the world; a change arrives before it ends.
        schedule.wake(key)
        schedule.wake(key)
        return 30.0

    schedule.run_due(reconcile, logging.getLogger("test"))
    assert schedule.due() == [("ns", "r")]  # not in 30 s: now
    schedule.run_due(lambda key: 30.0, logging.getLogger("test"))
    assert schedule.due() == []


def test_the_longest_overdue_release_goes_first() -> None:
    clock = Clock()
    schedule = TickSchedule(clock)
    schedule.set(("ns", "late"), -3.0)
    schedule.set(("ns", "later"), -9.0)
    schedule.set(("ns", "now"), 0.0)
    schedule.set(("ns", "not-yet"), 1.0)
    assert schedule.due() == [("ns", "later"), ("ns", "late"), ("ns", "now")]


def test_urgent_looks_go_before_routine_ones_that_are_longer_overdue() -> None:
    clock = Clock()
    schedule = TickSchedule(clock)
    schedule.set(("ns", "routine"), -30.0)
    schedule.set(("ns", "stage-ends"), 0.0)
    schedule.run_due(
        lambda key: Next(2.0, urgent=True) if key[1] == "stage-ends" else 1.0,
        logging.getLogger("test"),
    )
    clock.now += 5.0
    schedule.wake(("ns", "woken"))
    # Both urgent ones (in their own order of time) before the routine one.
    assert schedule.due() == [("ns", "stage-ends"), ("ns", "woken"), ("ns", "routine")]
