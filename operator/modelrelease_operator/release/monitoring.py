"""spec.monitoring: the stable judged in production, check by check.

Pure, like the rest of `decide`. Each check judges a sliding window: the stable's
counters now minus those at a checkpoint about `window` ago. Checkpoints live in status
(a few, spaced `window/8` apart), so a restarted operator judges the same windows. A
check that fails `failureLimit` times in a row makes the release Degraded; a check that
passes makes it Healthy again. Low traffic is inconclusive and changes neither.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..api.release import Gates, GateStatus, ModelRef, ModelReleaseSpec, ModelReleaseStatus
from ..api.release_loop import Monitoring
from ..api.release_status import ROLLING, MonitoringCheckpoint, MonitoringStatus
from . import gates
from .durations import parse_duration
from .observations import VersionSnapshot
from .transitions import Step

#: Checkpoints per window: the window judged is between `window` and `window * 9/8` long.
CHECKPOINTS_PER_WINDOW = 8
#: A check this much earlier than the interval still counts (timers drift a little).
INTERVAL_SLACK = 0.8


def _parse(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp) if stamp else None


def stage_gates(monitoring: Monitoring) -> Gates:
    """The monitoring gates in the form the stage judges take."""
    chosen = monitoring.gates
    return Gates(
        error_rate=chosen.error_rate,
        latency=chosen.latency,
        drift=chosen.drift,
        accuracy=chosen.accuracy,
    )


def fresh(stable: ModelRef) -> MonitoringStatus:
    return MonitoringStatus(version=stable.version)


def _keep(checkpoints: list[MonitoringCheckpoint], now: datetime, window: timedelta) -> int:
    """Index of the checkpoint a window ending now starts at: the newest one at least
    `window` old, else (the window is still filling) the oldest."""
    start = 0
    for index, point in enumerate(checkpoints):
        at = _parse(point.at)
        if at is not None and now - at >= window:
            start = index
    return start


def due(spec: ModelReleaseSpec, status: ModelReleaseStatus, now: datetime) -> bool:
    """Whether a monitoring check (or its first checkpoint) is due: the metrics are read
    only then, not on every tick."""
    if spec.monitoring is None or status.stable is None or status.phase in ROLLING:
        return False
    state = status.monitoring
    if state is None or state.version != status.stable.version or not state.checkpoints:
        return True
    last = _parse(state.last_check_at) or _parse(state.checkpoints[0].at)
    interval = parse_duration(spec.monitoring.interval)
    return last is None or now - last >= interval * INTERVAL_SLACK


def check(step: Step, stable_now: VersionSnapshot) -> None:
    """One monitoring look at the stable's counters; a transition when health changes."""
    spec, status = step.spec, step.status
    monitoring = spec.monitoring
    assert monitoring is not None and status.stable is not None
    state = status.monitoring
    if state is None or state.version != status.stable.version:
        state = status.monitoring = fresh(status.stable)
    window = parse_duration(monitoring.window)
    counts = stable_now.compact()
    if not state.checkpoints:
        state.checkpoints = [MonitoringCheckpoint(at=step.stamp, counts=counts)]
        return
    last = _parse(state.last_check_at) or _parse(state.checkpoints[0].at)
    interval = parse_duration(monitoring.interval)
    if last is not None and step.now - last < interval * INTERVAL_SLACK:
        return
    start = _keep(state.checkpoints, step.now, window)
    judged = gates.Window(
        candidate=stable_now.since(state.checkpoints[start].counts),
        stable=VersionSnapshot(),
        candidate_weight=100,
        min_requests=monitoring.min_requests,
        reference=status.stable.reference,
    )
    # The traffic gate is the stages' minimum: in production little traffic is no verdict.
    results = [r for r in gates.evaluate(stage_gates(monitoring), judged) if r.name != "traffic"]
    state.gates = results
    state.last_check_at = step.stamp
    newest = _parse(state.checkpoints[-1].at)
    if newest is None or step.now - newest >= window / CHECKPOINTS_PER_WINDOW:
        state.checkpoints.append(MonitoringCheckpoint(at=step.stamp, counts=counts))
    state.checkpoints = state.checkpoints[_keep(state.checkpoints, step.now, window) :][-16:]
    _judge(step, state, results, monitoring.failure_limit)


def _judge(
    step: Step, state: MonitoringStatus, results: list[GateStatus], failure_limit: int
) -> None:
    verdict = gates.summary(results)
    phase = step.status.phase
    if verdict == "Fail":
        failing = next(r for r in results if r.verdict == "Fail")
        state.failed_checks += 1
        if not state.degraded and state.failed_checks >= failure_limit:
            state.degraded = True
            state.degraded_since = step.stamp
            state.failed_gate = failing
            step.move(
                "degrade",
                phase,
                "Degraded",
                f"stable {state.version} degraded: gate {failing.name} failed "
                f"{state.failed_checks} checks in a row: {failing.message}",
                "Warning",
            )
        return
    if verdict == "Pass":
        state.failed_checks = 0
        if state.degraded:
            state.degraded = False
            state.degraded_since = None
            state.failed_gate = None
            step.move(
                "recover",
                phase,
                "Recovered",
                f"stable {state.version} passes every monitoring gate again",
            )


def health(spec: ModelReleaseSpec, state: MonitoringStatus | None) -> str | None:
    """status.health: None without monitoring, Unknown before the first verdict."""
    if spec.monitoring is None:
        return None
    if state is None or not state.gates:
        return "Unknown"
    return "Degraded" if state.degraded else "Healthy"


def condition(state: MonitoringStatus | None) -> tuple[str, str, str]:
    """(status, reason, message) of the Degraded condition."""
    if state is None or not state.gates:
        return "Unknown", "NotYetChecked", "no monitoring check yet"
    if state.degraded and state.failed_gate is not None:
        gate = state.failed_gate
        return (
            "True",
            "GateFailed",
            f"{gate.name}: {gate.value} (threshold {gate.threshold}): {gate.message}",
        )
    failing = [g.name for g in state.gates if g.verdict == "Fail"]
    if failing:
        return "False", "Failing", f"failing {state.failed_checks} time(s): {', '.join(failing)}"
    return "False", "Healthy", "every monitoring gate passes or waits for data"
