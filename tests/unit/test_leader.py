"""Leader election: the decision as a table, and the elector's loop over an in-memory
Lease that refuses stale writes as the API server does (the real one: tests/integration/
test_leader_election.py)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from modelrelease_operator import leader
from modelrelease_operator.config import from_environment
from modelrelease_operator.leader import (
    Action,
    Conflict,
    Elector,
    LeaseRecord,
    Timing,
    decide,
    leading,
    released,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
EARLIER = NOW - timedelta(minutes=5)
ME, OTHER = "operator-a", "operator-b"


def held(holder: str, *, duration: int = 15, transitions: int = 3) -> LeaseRecord:
    return LeaseRecord(holder, duration, EARLIER, EARLIER, transitions)


# (why, lease as read, seconds seen unchanged, action, holder written, transitions written)
CASES: list[tuple[str, LeaseRecord | None, float, Action, str | None, int | None]] = [
    ("no lease yet: create it", None, 0.0, Action.CREATE, ME, 0),
    ("ours: renew", held(ME), 0.0, Action.RENEW, ME, 3),
    ("ours, even long unchanged: renew", held(ME), 60.0, Action.RENEW, ME, 3),
    ("another's, just seen: stand by", held(OTHER), 0.0, Action.STANDBY, None, None),
    ("another's, seen unchanged 14.9 of 15 s", held(OTHER), 14.9, Action.STANDBY, None, None),
    ("another's, unchanged for its duration: take it", held(OTHER), 15.0, Action.ACQUIRE, ME, 4),
    ("another's, with a short duration", held(OTHER, duration=5), 6.0, Action.ACQUIRE, ME, 4),
    ("given up (no holder): take it at once", held("", duration=1), 0.0, Action.ACQUIRE, ME, 4),
]


@pytest.mark.parametrize(
    ("lease", "unchanged_for", "action", "holder", "transitions"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decide(
    lease: LeaseRecord | None,
    unchanged_for: float,
    action: Action,
    holder: str | None,
    transitions: int | None,
) -> None:
    decision = decide(lease, ME, NOW, unchanged_for=unchanged_for, duration=15)
    assert decision.action is action
    if holder is None:
        assert decision.record is None
        return
    assert decision.record is not None
    assert (decision.record.holder, decision.record.transitions) == (holder, transitions)
    assert decision.record.duration_seconds == 15
    assert decision.record.renew_time == NOW
    # A renewal keeps when the lease was taken; a takeover starts it again.
    expected_acquire = EARLIER if action is Action.RENEW else NOW
    assert decision.record.acquire_time == expected_acquire


def test_the_holders_renew_time_is_never_held_against_this_clock() -> None:
    """A renewTime far in the past (or future: skewed clocks) does not expire a lease
    this replica has just begun to watch."""
    ancient = LeaseRecord(OTHER, 15, EARLIER - timedelta(days=3), EARLIER - timedelta(days=3))
    assert decide(ancient, ME, NOW, unchanged_for=0.0, duration=15).action is Action.STANDBY
    future = LeaseRecord(OTHER, 15, NOW + timedelta(hours=1), NOW + timedelta(hours=1))
    assert decide(future, ME, NOW, unchanged_for=16.0, duration=15).action is Action.ACQUIRE


@pytest.mark.parametrize(
    ("renewed_at", "now", "acting"),
    [(None, 100.0, False), (100.0, 100.0, True), (100.0, 109.9, True), (100.0, 110.0, False)],
)
def test_a_leader_acts_only_within_its_renew_deadline(
    renewed_at: float | None, now: float, acting: bool
) -> None:
    assert leading(renewed_at, now, 10.0) is acting


def test_released_leaves_no_holder_and_keeps_the_count() -> None:
    given_up = released(held(ME, transitions=7), NOW)
    assert (given_up.holder, given_up.duration_seconds, given_up.transitions) == ("", 1, 7)


def test_the_spec_round_trips_and_times_have_six_fractional_digits() -> None:
    record = LeaseRecord(ME, 15, NOW.replace(microsecond=0), NOW, 2)
    spec = record.to_spec()
    assert spec == {
        "holderIdentity": ME,
        "leaseDurationSeconds": 15,
        "leaseTransitions": 2,
        "acquireTime": "2026-03-01T12:00:00.000000Z",
        "renewTime": "2026-03-01T12:00:00.123456Z",
    }
    assert LeaseRecord.from_spec(spec) == record
    # As the client hands a read Lease back (sanitize_for_serialization): isoformat.
    read = dict(spec, acquireTime="2026-03-01T12:00:00+00:00")
    assert LeaseRecord.from_spec(read) == record
    assert LeaseRecord.from_spec(None) == LeaseRecord()


def test_timings_must_leave_the_leader_time_to_stop() -> None:
    Timing(15, 10, 2)
    for bad in [(10, 10, 2), (15, 10, 10), (15, 20, 2), (15, 10, 0)]:
        with pytest.raises(ValueError, match="retry < renew deadline < lease duration"):
            Timing(*bad)


def test_settings_from_the_environment() -> None:
    config = from_environment(
        {
            "MODELRELEASE_LEADER_ELECTION": "true",
            "POD_NAME": "modelrelease-operator-7d9-abcde",
            "POD_NAMESPACE": "ml-system",
            "MODELRELEASE_LEASE_DURATION_SECONDS": "8",
            "MODELRELEASE_API_TIMEOUT": "12.5",
        }
    )
    assert config.leader_election
    assert (config.leader_identity, config.leader_namespace) == (
        "modelrelease-operator-7d9-abcde",
        "ml-system",
    )
    assert (config.leader_lease, config.lease_duration_seconds) == ("modelrelease-operator", 8)
    assert config.api_timeout == 12.5
    assert not from_environment({}).leader_election
    assert (
        from_environment({"MODELRELEASE_LEADER_IDENTITY": "x", "POD_NAME": "y"}).leader_identity
        == "x"
    )


class Store:
    """One Lease, written only on the resourceVersion last read, as the API server does."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.down = False
        self.writes: list[tuple[str, str]] = []  # (verb, holder)

    def api(self) -> Client:
        return Client(self)


class Client:
    def __init__(self, store: Store) -> None:
        self.store = store

    def read(self) -> dict[str, Any] | None:
        if self.store.down:
            raise TimeoutError("read timed out")
        return copy.deepcopy(self.store.lease)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.store.down:
            raise TimeoutError("write timed out")
        if self.store.lease is not None:
            raise Conflict("AlreadyExists")
        return self._store("create", body)

    def replace(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.store.down:
            raise TimeoutError("write timed out")
        assert self.store.lease is not None
        if (
            body["metadata"].get("resourceVersion")
            != self.store.lease["metadata"]["resourceVersion"]
        ):
            raise Conflict("Conflict")
        return self._store("replace", body)

    def _store(self, verb: str, body: dict[str, Any]) -> dict[str, Any]:
        self.store.version += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self.store.version)
        self.store.lease = stored
        self.store.writes.append((verb, stored["spec"]["holderIdentity"]))
        return copy.deepcopy(stored)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elector(
    store: Store, clock: Clock, identity: str, changes: list[bool] | None = None
) -> Elector:
    return Elector(
        store.api(),
        name="modelrelease-operator",
        namespace="modelrelease-system",
        identity=identity,
        timing=Timing(15, 10, 2),
        clock=clock,
        wall=lambda: NOW + timedelta(seconds=clock.now),
        on_change=None if changes is None else changes.append,
    )


def test_two_electors_one_leader_and_a_takeover_after_the_lease_expires() -> None:
    store, clock = Store(), Clock()
    changes: list[bool] = []
    a, b = elector(store, clock, ME, changes), elector(store, clock, OTHER)
    assert a.attempt() is Action.CREATE
    assert b.attempt() is Action.STANDBY
    assert (a.acting(), b.acting()) == (True, False)
    assert changes == [True]
    # a renews every 2 s: b never sees the lease unchanged for long.
    for _ in range(20):
        clock.now += 2
        assert a.attempt() is Action.RENEW
        assert b.attempt() is Action.STANDBY
    # a stops renewing (hung, partitioned): it stops acting at its renew deadline, ...
    stopped = clock.now
    while a.acting():
        clock.now += 0.5
        assert b.attempt() is Action.STANDBY
    assert clock.now - stopped == pytest.approx(10.0)
    # ... before b may take the lease over, which b does once it has seen the lease
    # unchanged for its duration.
    while b.attempt() is Action.STANDBY:
        clock.now += 0.5
    assert clock.now - stopped == pytest.approx(15.0)  # b saw the last renewal at once
    assert b.acting()
    assert store.lease is not None and store.lease["spec"]["leaseTransitions"] == 1
    # a is back: the lease is b's now.
    assert a.attempt() is Action.STANDBY
    assert not a.acting()
    assert changes == [True, False]


def test_of_two_that_saw_it_expire_only_the_first_write_wins() -> None:
    store, clock = Store(), Clock()
    a, b = elector(store, clock, ME), elector(store, clock, OTHER)
    store.lease = {
        "metadata": {"name": "modelrelease-operator", "resourceVersion": "0"},
        "spec": held("gone").to_spec(),
    }
    a.api.read(), b.api.read()
    assert a.attempt() is Action.STANDBY and b.attempt() is Action.STANDBY
    clock.now += 15
    # Both read the expired lease before either writes: b's write is refused.
    stale = b.api.read()
    assert a.attempt() is Action.ACQUIRE
    b.api = _Replay(b.api, stale)
    assert b.attempt() is Action.STANDBY
    assert (a.acting(), b.acting()) == (True, False)
    assert store.writes == [("replace", ME)]


class _Replay:
    """Hands back one stale read, as if it had been read just before another's write."""

    def __init__(self, api: Any, stale: dict[str, Any] | None) -> None:
        self.api, self.stale = api, stale

    def read(self) -> dict[str, Any] | None:
        return self.stale

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.api.create(body))

    def replace(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.api.replace(body))


def test_a_leader_that_cannot_reach_the_api_stops_acting_at_its_deadline() -> None:
    store, clock = Store(), Clock()
    a = elector(store, clock, ME)
    assert a.attempt() is Action.CREATE
    store.down = True
    clock.now += 2
    assert a.attempt() is None  # the error is logged, the loop goes on
    assert a.acting()
    clock.now += 8
    assert not a.acting()
    store.down = False
    # Nobody took it meanwhile: renewing is safe, and it acts again.
    assert a.attempt() is Action.RENEW
    assert a.acting()


def test_stop_gives_the_lease_up_and_the_standby_leads_at_once() -> None:
    store, clock = Store(), Clock()
    a, b = elector(store, clock, ME), elector(store, clock, OTHER)
    a.attempt()
    b.attempt()
    a.stop()
    assert not a.acting()
    assert store.lease is not None and store.lease["spec"]["holderIdentity"] == ""
    assert b.attempt() is Action.ACQUIRE
    assert b.acting()
    assert store.lease["spec"]["leaseTransitions"] == 1


def test_stop_leaves_a_lease_someone_else_took_alone() -> None:
    store, clock = Store(), Clock()
    a, b = elector(store, clock, ME), elector(store, clock, OTHER)
    a.attempt()
    clock.now += 30  # a hung; b takes over
    b.attempt()
    clock.now += 15
    assert b.attempt() is Action.ACQUIRE
    a.stop()  # a's last seen version is stale: its release is refused
    assert store.lease is not None and store.lease["spec"]["holderIdentity"] == OTHER


def test_without_an_elector_the_process_always_acts() -> None:
    assert leader.current() is None
    assert leader.acting()
