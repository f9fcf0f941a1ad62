"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does.

Two replicas of the operator (two by design, or the old and the new pod of a rolling
update, or a replacement for a pod on a stuck node) must not both act: one acting on a
stale read could undo what the other did. Each replica runs a `Elector` thread; only the
one that holds the Lease acts (`acting()`, which every writing entry point checks).

- The Lease names its holder (`holderIdentity`, the pod's name), how long a holder's
  claim lasts (`leaseDurationSeconds`), when it was taken (`acquireTime`) and last renewed
  (`renewTime`), and how often it changed hands (`leaseTransitions`).
- Every `retry` seconds a replica reads it and `decide()`s: create it, take it over
  (free, or not renewed for `leaseDurationSeconds` as this replica has watched it:
  its own clock, so clocks need not agree across nodes), renew it (its own), or stand
  by. Every write is an update on the read `resourceVersion`: of two replicas that
  both saw it expire, one wins and the other gets 409 and stands by.
- The leader stops acting as soon as it has not renewed for `renew_deadline` seconds
  (less than the lease's duration), so it has stopped before another replica can take
  the lease, even when it cannot reach the API server to learn that it lost it.
- A clean shutdown gives the lease up (no holder), so another replica leads at once.
"""

from __future__ import annotations

import enum
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import kubernetes
from prometheus_client import Gauge

from . import kube
from .config import OperatorConfig

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_NAMESPACE = "modelrelease-system"
LEADER = Gauge(
    "modelrelease_operator_leader",
    "1 while this replica holds the leader Lease and acts, 0 while it stands by.",
)


@dataclass(frozen=True)
class Timing:
    """client-go's defaults: a lease lasts 15 s, a leader that has not renewed for 10 s
    stops acting, and each replica tries every 2 s."""

    lease_duration: int = 15
    renew_deadline: float = 10.0
    retry: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election needs 0 < retry < renew deadline < lease duration, not "
                f"{self.retry} < {self.renew_deadline} < {self.lease_duration}"
            )


def _time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def micro_time(value: datetime) -> str:
    """A MicroTime as the API server parses it: always six fractional digits."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaseRecord:
    """A Lease's spec: who holds it, for how long, since when."""

    holder: str = ""
    duration_seconds: int = 0
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    transitions: int = 0

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> LeaseRecord:
        spec = spec or {}
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=_time(spec.get("acquireTime")),
            renew_time=_time(spec.get("renewTime")),
            transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.duration_seconds,
            "leaseTransitions": self.transitions,
        }
        if self.acquire_time is not None:
            spec["acquireTime"] = micro_time(self.acquire_time)
        if self.renew_time is not None:
            spec["renewTime"] = micro_time(self.renew_time)
        return spec


class Action(enum.Enum):
    CREATE = "create"  # there is no Lease: create it, held by this replica
    ACQUIRE = "acquire"  # free or expired: take it over
    RENEW = "renew"  # this replica's: renew it
    STANDBY = "standby"  # another replica holds it and has renewed it lately: wait


@dataclass(frozen=True)
class Decision:
    action: Action
    #: What to write (None: nothing).
    record: LeaseRecord | None = None


def decide(
    lease: LeaseRecord | None,
    identity: str,
    now: datetime,
    *,
    unchanged_for: float,
    duration: int,
) -> Decision:
    """What this replica does with the lease as read.

    `unchanged_for`: seconds this replica has seen the lease exactly as it is now
    (its monotonic clock; 0 the first time). The holder's claim has expired when that
    reaches the lease's own `leaseDurationSeconds`, as in client-go: the holder's
    `renewTime` is never compared with this replica's clock. `duration`: the
    `leaseDurationSeconds` this replica writes.
    """
    if lease is None:
        return Decision(Action.CREATE, LeaseRecord(identity, duration, now, now, 0))
    if lease.holder == identity:
        renewed = replace(
            lease, duration_seconds=duration, renew_time=now, acquire_time=lease.acquire_time or now
        )
        return Decision(Action.RENEW, renewed)
    if lease.holder and unchanged_for < lease.duration_seconds:
        return Decision(Action.STANDBY)
    taken = LeaseRecord(identity, duration, now, now, lease.transitions + 1)
    return Decision(Action.ACQUIRE, taken)


def leading(renewed_at: float | None, now: float, renew_deadline: float) -> bool:
    """Whether a holder whose last renewal was sent at `renewed_at` (monotonic seconds;
    None: it holds nothing) may still act: only within the renew deadline, which ends
    before any other replica can see the lease expire."""
    return renewed_at is not None and 0 <= now - renewed_at < renew_deadline


def released(lease: LeaseRecord, now: datetime) -> LeaseRecord:
    """The lease given up on a clean shutdown, as client-go leaves it: no holder, so the
    next replica takes it at once."""
    return replace(lease, holder="", duration_seconds=1, renew_time=now, acquire_time=now)


class Conflict(Exception):
    """Another replica wrote the Lease first (409)."""


class LeaseApi(Protocol):
    """Reads and conditional writes of one Lease, as plain JSON objects."""

    def read(self) -> dict[str, Any] | None: ...

    def create(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def replace(self, body: dict[str, Any]) -> dict[str, Any]: ...


class KubeLease:
    """`LeaseApi` on the operator's API client; each call bounded by `timeout`."""

    def __init__(self, name: str, namespace: str, timeout: float) -> None:
        self.name, self.namespace, self.timeout = name, namespace, timeout

    def read(self) -> dict[str, Any] | None:
        found = kube.get_or_none(
            kube.coordination().read_namespaced_lease,
            self.name,
            self.namespace,
            _request_timeout=self.timeout,
        )
        return None if found is None else kube.plain(found)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._write(kube.coordination().create_namespaced_lease, self.namespace, body=body)

    def replace(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._write(
            kube.coordination().replace_namespaced_lease, self.name, self.namespace, body=body
        )

    def _write(self, call: Callable[..., Any], *args: Any, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return kube.plain(call(*args, body, _request_timeout=self.timeout))
        except kubernetes.client.ApiException as error:
            if error.status == 409:
                raise Conflict(str(error.reason)) from error
            raise


def default_identity() -> str:
    """The host's name (a pod's name in a pod) and a random suffix, as client-go's
    examples make it: two processes on one host are two candidates."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def default_namespace() -> str:
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or DEFAULT_NAMESPACE
    except OSError:
        return DEFAULT_NAMESPACE


class Elector:
    """Keeps trying to hold the Lease, in a thread of its own; `acting()` is the gate."""

    def __init__(
        self,
        api: LeaseApi,
        *,
        name: str,
        namespace: str,
        identity: str,
        timing: Timing,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.api, self.name, self.namespace = api, name, namespace
        self.identity, self.timing = identity, timing
        self._clock, self._wall, self._on_change = clock, wall, on_change
        self._lock = threading.Lock()
        #: When the last renewal that succeeded was sent (None: not holding).
        self._renewed_at: float | None = None
        #: The Lease as last read or written (its resourceVersion makes writes conditional).
        self._body: dict[str, Any] | None = None
        #: The record as first seen unchanged, and when.
        self._seen: tuple[LeaseRecord | None, float] | None = None
        self._leading = False  # as last reported (logs, metric, on_change)
        self.holder = ""  # the holder as last read
        #: When the loop last finished an attempt (or started): liveness reads it.
        self.last_attempt: float = clock()
        self.first_attempt = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        LEADER.set(0)

    # The gate -----------------------------------------------------------------------

    def acting(self) -> bool:
        with self._lock:
            renewed_at = self._renewed_at
        return leading(renewed_at, self._clock(), self.timing.renew_deadline)

    # One attempt ---------------------------------------------------------------------

    def attempt(self) -> Action | None:
        """Read the Lease, decide, write. Returns what was done (None: it failed)."""
        started = self._clock()
        try:
            return self._attempt(started)
        except Exception as error:  # an unreachable API server: try again next time
            log.warning("leader election: %s: %s", type(error).__name__, error)
            return None
        finally:
            self._report()
            self.last_attempt = self._clock()

    def _attempt(self, started: float) -> Action:
        body = self.api.read()
        record = None if body is None else LeaseRecord.from_spec(body.get("spec"))
        self.holder = record.holder if record else ""
        with self._lock:
            if self._seen is None or self._seen[0] != record:
                self._seen = (record, started)
            unchanged_for = started - self._seen[1]
            self._body = body
        decision = decide(
            record,
            self.identity,
            self._wall(),
            unchanged_for=unchanged_for,
            duration=self.timing.lease_duration,
        )
        if decision.action is Action.STANDBY or decision.record is None:
            self._lose()
            return Action.STANDBY
        written = self._metadata(body)
        written["spec"] = decision.record.to_spec()
        try:
            if decision.action is Action.CREATE:
                answer = self.api.create(written)
            else:
                answer = self.api.replace(written)
        except Conflict:
            # Someone else wrote it since it was read: they lead (or will); stop now.
            self.holder = "another replica (409 on the write)"
            self._lose()
            return Action.STANDBY
        with self._lock:
            self._body = answer
            self._seen = (decision.record, started)
            if not self._stop.is_set():  # stop() closed the gate for good
                self._renewed_at = started
        self.holder = self.identity
        return decision.action

    def _metadata(self, body: dict[str, Any] | None) -> dict[str, Any]:
        meta = dict((body or {}).get("metadata") or {})
        meta.pop("managedFields", None)
        meta.update(name=self.name, namespace=self.namespace)
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta}

    def _lose(self) -> None:
        with self._lock:
            self._renewed_at = None

    def _report(self) -> None:
        """Log, count and call back a change of leadership (also one the renew deadline
        made: acting() ended it already, this says so)."""
        now = self.acting()
        if now == self._leading:
            return
        self._leading = now
        LEADER.set(1 if now else 0)
        if now:
            log.info(
                "leader election: %s leads (Lease %s/%s)", self.identity, self.namespace, self.name
            )
        elif self._stop.is_set():
            log.info("leader election: %s stopped acting: shutting down", self.identity)
        else:
            if self.holder and self.holder != self.identity:
                why = f"the Lease is held by {self.holder}"
            else:
                why = f"the Lease was not renewed within {self.timing.renew_deadline}s"
            log.warning("leader election: %s stopped acting: %s", self.identity, why)
        if self._on_change is not None:
            try:
                self._on_change(now)
            except Exception:
                log.exception("leader election: on_change failed")

    # The thread ----------------------------------------------------------------------

    def run(self) -> None:
        while not self._stop.is_set():
            self.attempt()
            self.first_attempt.set()
            self._stop.wait(self.timing.retry)

    def start(self) -> None:
        log.info(
            "leader election: %s on Lease %s/%s (duration %ss, renew deadline %ss, retry %ss)",
            self.identity,
            self.namespace,
            self.name,
            self.timing.lease_duration,
            self.timing.renew_deadline,
            self.timing.retry,
        )
        self._thread = threading.Thread(target=self.run, name="leader-election", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, *, release: bool = True) -> None:
        """Stop acting at once, end the loop, and give the lease up if this replica
        still holds it (conditionally: if someone took it meanwhile, it stays theirs)."""
        self._stop.set()
        self._lose()
        if self._thread is not None:
            self._thread.join(timeout=self.timing.renew_deadline)
        self._lose()
        self._report()
        with self._lock:
            body = self._body
        if not release or body is None:
            return
        # Written only on the resourceVersion last seen: if another replica took the
        # lease since, the write fails and the lease stays theirs.
        record = LeaseRecord.from_spec(body.get("spec"))
        if record.holder != self.identity:
            return
        written = self._metadata(body)
        written["spec"] = released(record, self._wall()).to_spec()
        try:
            self.api.replace(written)
            log.info("leader election: %s gave the Lease up", self.identity)
        except Exception as error:  # it expires by itself
            log.warning("leader election: could not give the Lease up: %s", error)


#: The process's elector; None: no leader election, the process always acts.
_elector: Elector | None = None


def install(elector: Elector | None) -> None:
    global _elector
    _elector = elector


def current() -> Elector | None:
    return _elector


def acting() -> bool:
    """Whether this process may act (write) now: always without leader election."""
    elector = _elector
    return elector is None or elector.acting()


def from_config(config: OperatorConfig, on_change: Callable[[bool], None] | None = None) -> Elector:
    """The elector `config` asks for; nothing is read or written until it starts."""
    timing = Timing(
        lease_duration=config.lease_duration_seconds,
        renew_deadline=config.lease_renew_deadline_seconds,
        retry=config.lease_retry_seconds,
    )
    namespace = config.leader_namespace or default_namespace()
    api = KubeLease(config.leader_lease, namespace, timeout=max(1.0, timing.renew_deadline / 2))
    return Elector(
        api,
        name=config.leader_lease,
        namespace=namespace,
        identity=config.leader_identity or default_identity(),
        timing=timing,
        on_change=on_change,
    )
