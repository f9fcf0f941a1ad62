"""The operator's own Prometheus metrics about releases."""

from __future__ import annotations

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
RECONCILE_SECONDS = Histogram(
    "modelrelease_operator_reconcile_seconds",
    "Time to read, decide, write status and apply, per reconcile.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

_phases: dict[tuple[str, str], str] = {}
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
) -> None:
    """Update the gauges from a release's new status and count what was done."""
    with _lock:
        if phase is None:
            _phases.pop((namespace, release), None)
        else:
            _phases[(namespace, release)] = phase
        counts = dict.fromkeys(PHASES, 0)
        for seen in _phases.values():
            counts[seen] = counts.get(seen, 0) + 1
    for name, count in counts.items():
        RELEASES.labels(phase=name).set(count)
    if phase is None:
        if _has_weight(namespace, release):
            CANDIDATE_WEIGHT.remove(namespace, release)
        return
    CANDIDATE_WEIGHT.labels(namespace=namespace, release=release).set(weight)
    for action in actions:
        DECISIONS.labels(namespace=namespace, release=release, action=action).inc()
    for gate in gates or []:
        GATE_VERDICTS.labels(
            namespace=namespace, release=release, gate=gate.name, verdict=gate.verdict
        ).inc()


def _has_weight(namespace: str, release: str) -> bool:
    return any(
        sample.labels.get("namespace") == namespace and sample.labels.get("release") == release
        for metric in CANDIDATE_WEIGHT.collect()
        for sample in metric.samples
    )
