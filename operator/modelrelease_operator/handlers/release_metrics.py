"""The operator's own Prometheus metrics about releases."""

from __future__ import annotations

import contextlib
import threading

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from ..api.release import GateStatus

PHASES = ("Pending", "Progressing", "Paused", "Succeeded", "RolledBack", "Failed")

RELEASES = Gauge("modelrelease_operator_releases", "ModelReleases by phase.", ["phase"])
CANDIDATE_WEIGHT = Gauge(
    "modelrelease_operator_candidate_weight_percent",
    "Share of traffic on the candidate, per release.",
    ["namespace", "release"],
)
GATE_VERDICTS = Counter(
    "modelrelease_operator_gate_verdicts_total",
    "Gate verdicts, per release, gate and verdict (one per check).",
    ["namespace", "release", "gate", "verdict"],
)
DECISIONS = Counter(
    "modelrelease_operator_decisions_total",
    "Transitions taken (start, weight, advance, pause, resume, rollback, promote, fail, ...).",
    ["namespace", "release", "action"],
)
RECONCILE_ERRORS = Counter(
    "modelrelease_operator_reconcile_errors_total",
    "Reconciles of a release that ended in an error (retried on the next tick).",
    ["namespace", "release"],
)
RELEASE_PHASE = Gauge(
    "modelrelease_operator_release_phase",
    "1 for the phase a release is in, 0 for the other phases (one series per phase).",
    ["namespace", "release", "phase"],
)
GATE_VALUE = Gauge(
    "modelrelease_operator_gate_value",
    "Each gate's value at its last check; absent while the gate has none (inconclusive).",
    ["namespace", "release", "gate"],
)
GATE_THRESHOLD = Gauge(
    "modelrelease_operator_gate_threshold",
    "The threshold each gate's value is held against at its last check.",
    ["namespace", "release", "gate"],
)
CANDIDATE_READY = Gauge(
    "modelrelease_operator_candidate_ready",
    "1 when the candidate's pods are ready for its stage, 0 while they are not; "
    "absent when there is no candidate.",
    ["namespace", "release"],
)
RELEASE_DEGRADED = Gauge(
    "modelrelease_operator_release_degraded",
    "1 while spec.monitoring finds the stable Degraded, 0 while it does not; absent "
    "without monitoring.",
    ["namespace", "release"],
)
RECONCILE_SECONDS = Histogram(
    "modelrelease_operator_reconcile_seconds",
    "Time to read, decide, write status and apply, per reconcile.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

_phases: dict[tuple[str, str], str] = {}
#: Per release, the gates that have a value / a threshold series now, to remove the ones
#: a later check no longer reports (a series left behind would show a stale verdict).
_gate_values: dict[tuple[str, str], set[str]] = {}
_gate_thresholds: dict[tuple[str, str], set[str]] = {}
#: Actions after which the previous rollout's gate values no longer apply.
_NEW_ROLLOUT = frozenset({"start", "replace"})
_lock = threading.Lock()
_served = False


def serve(port: int) -> None:
    """Expose the metrics on `port` (once per process)."""
    global _served
    with _lock:
        if not _served and port > 0:
            start_http_server(port)
            _served = True


def record(
    namespace: str,
    release: str,
    phase: str | None,
    weight: int,
    actions: list[str],
    gates: list[GateStatus] | None,
    *,
    candidate_ready: bool | None = None,
    degraded: bool | None = None,
) -> None:
    """Update the gauges from a release's new status and count what was done.

    `phase` None: the release is gone, and so are its series. `candidate_ready` None:
    no candidate (or the caller does not say), so no readiness series."""
    key = (namespace, release)
    with _lock:
        if phase is None:
            _phases.pop(key, None)
        else:
            _phases[key] = phase
        counts = dict.fromkeys(PHASES, 0)
        for seen in _phases.values():
            counts[seen] = counts.get(seen, 0) + 1
        for name, count in counts.items():
            RELEASES.labels(phase=name).set(count)
        if phase is None:
            _forget(namespace, release)
            return
        for name in PHASES:
            RELEASE_PHASE.labels(namespace=namespace, release=release, phase=name).set(
                1 if name == phase else 0
            )
        CANDIDATE_WEIGHT.labels(namespace=namespace, release=release).set(weight)
        if candidate_ready is None:
            _remove(CANDIDATE_READY, namespace, release)
        else:
            CANDIDATE_READY.labels(namespace=namespace, release=release).set(int(candidate_ready))
        if degraded is None:
            _remove(RELEASE_DEGRADED, namespace, release)
        else:
            RELEASE_DEGRADED.labels(namespace=namespace, release=release).set(int(degraded))
        if _NEW_ROLLOUT.intersection(actions):
            _set_gates(namespace, release, [])
        if gates is not None:
            _set_gates(namespace, release, gates)
    for action in actions:
        DECISIONS.labels(namespace=namespace, release=release, action=action).inc()
    for gate in gates or []:
        GATE_VERDICTS.labels(
            namespace=namespace, release=release, gate=gate.name, verdict=gate.verdict
        ).inc()


def _set_gates(namespace: str, release: str, gates: list[GateStatus]) -> None:
    """Value and threshold series for exactly the gates that report them now."""
    key = (namespace, release)
    for gauge, known, field in (
        (GATE_VALUE, _gate_values, "value"),
        (GATE_THRESHOLD, _gate_thresholds, "threshold"),
    ):
        now: dict[str, float] = {
            gate.name: number for gate in gates if (number := getattr(gate, field)) is not None
        }
        for gone in known.pop(key, set()) - now.keys():
            _remove(gauge, namespace, release, gone)
        for name, number in now.items():
            gauge.labels(namespace=namespace, release=release, gate=name).set(number)
        if now:
            known[key] = set(now)


def _forget(namespace: str, release: str) -> None:
    """Drop every per-release series of a release that is gone."""
    for name in PHASES:
        _remove(RELEASE_PHASE, namespace, release, name)
    _remove(CANDIDATE_WEIGHT, namespace, release)
    _remove(CANDIDATE_READY, namespace, release)
    _remove(RELEASE_DEGRADED, namespace, release)
    _set_gates(namespace, release, [])


def _remove(gauge: Gauge, *labels: str) -> None:
    # Older prometheus_client raises KeyError for a series never set: nothing to remove.
    with contextlib.suppress(KeyError):
        gauge.remove(*labels)


def forget_all() -> None:
    """Drop every per-release series: a replica that stopped leading no longer knows them,
    and the leader's are the ones to read (two replicas must not both report a release)."""
    with _lock:
        known = list(_phases)
        _phases.clear()
        for name in PHASES:
            RELEASES.labels(phase=name).set(0)
        for namespace, release in known:
            _forget(namespace, release)
