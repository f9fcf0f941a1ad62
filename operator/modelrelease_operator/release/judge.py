"""Judging a stage: the window's gates, crashes of the candidate, missing metrics.

Part of `decide` (pure, at most one transition per call).
"""

from __future__ import annotations

from datetime import datetime

from ..api.release import GateStatus, Window
from . import gates
from .durations import parse_duration
from .observations import VersionSnapshot
from .seen import Observations
from .transitions import Step

#: The gate a crash of the candidate fails (pod status, not metrics).
RESTARTS = "restarts"
#: A check this much earlier than the interval still counts (timers drift a little).
INTERVAL_SLACK = 0.8


def _parse(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp) if stamp else None


def unavailable_too_long(step: Step, seen: Observations) -> bool:
    """A candidate whose pods stopped being ready during its stage (crash-looping, evicted)
    is rolled back once that has lasted the readiness deadline."""
    status = step.status
    if seen.candidate_ready:
        status.candidate_unready_since = None
        return False
    since = _parse(status.candidate_unready_since)
    if since is None:
        status.candidate_unready_since = step.stamp
        return False
    if step.now - since <= parse_duration(step.spec.readiness_deadline):
        return False
    step.roll_back(
        "CandidateUnavailable",
        f"the candidate's pods have not been ready for {step.spec.readiness_deadline} "
        "during its stage",
    )
    return True


def no_metrics(step: Step) -> None:
    """`analysis.unavailable` after `unavailableLimit` checks without metrics."""
    status, spec = step.status, step.spec
    why = f"metrics unavailable for {status.unavailable_checks} checks: {status.message}"
    policy = spec.analysis.unavailable
    if policy == "Rollback":
        step.roll_back("MetricsUnavailable", why)
    elif policy == "Pause" and status.phase != "Paused":
        step.pause("Unavailable", why)


def _restarted(step: Step, seen: Observations) -> bool:
    """The candidate's containers restarted since the window began: a failed check of its
    own (a crash is harm even when the counters it took with it cannot show it)."""
    status = step.status
    window = status.window
    if window is None or seen.candidate_restarts is None:
        return False
    more = seen.candidate_restarts - window.candidate_restarts
    if more <= 0:
        if more < 0:  # pods replaced: restart counts start again
            window.candidate_restarts = seen.candidate_restarts
        return False
    window.candidate_restarts = seen.candidate_restarts
    status.gates = [
        GateStatus(
            name=RESTARTS,
            verdict="Fail",
            value=more,
            threshold=0,
            samples=more,
            message=f"candidate containers restarted {more} time(s) in this stage",
        )
    ]
    status.last_check_at = step.stamp
    return True


def check(step: Step, seen: Observations, min_requests: int) -> str | None:
    """Judge the window if it is time; None when there was nothing to judge."""
    status, spec = step.status, step.spec
    candidate, stable = status.candidate, status.stable
    assert candidate is not None and stable is not None
    if _restarted(step, seen):
        return "Fail"
    metrics = seen.metrics
    if metrics is None:
        return None
    if metrics.error:
        return _unavailable_check(step, metrics.error)
    status.unavailable_checks = 0
    now_candidate = metrics.versions.get(candidate.version, VersionSnapshot())
    now_stable = metrics.versions.get(stable.version, VersionSnapshot())
    if status.window is None:
        status.window = Window(
            started_at=step.stamp,
            stable=now_stable.compact(),
            candidate=now_candidate.compact(),
            candidate_restarts=seen.candidate_restarts or 0,
        )
        step.actions.append("window")
        step.note(f"stage {step.plan.label(status.stage_index)}: judging from now on")
        return None
    # The first check of a window also waits an interval: it needs data to judge.
    opened = _parse(status.window.started_at)
    checked = _parse(status.last_check_at)
    last = max(opened, checked) if opened and checked else opened or checked
    interval = parse_duration(spec.analysis.interval)
    if last is not None and step.now - last < interval * INTERVAL_SLACK:
        return None
    window = gates.Window(
        candidate=now_candidate.since(status.window.candidate),
        stable=now_stable.since(status.window.stable),
        candidate_weight=status.candidate_weight,
        min_requests=min_requests,
        reference=candidate.reference,
        custom=metrics.custom,
    )
    status.gates = gates.evaluate(spec.analysis.gates, window)
    status.last_check_at = step.stamp
    return gates.summary(status.gates)


def _unavailable_check(step: Step, error: str) -> str | None:
    """A check without metrics (once per interval): never a pass; counted, and after
    `unavailableLimit` of them in a row "Unavailable" (see `no_metrics`)."""
    status, spec = step.status, step.spec
    last = _parse(status.last_check_at)
    interval = parse_duration(spec.analysis.interval)
    if last is None or step.now - last >= interval * INTERVAL_SLACK:
        status.unavailable_checks += 1
        status.last_check_at = step.stamp
    limit = spec.analysis.unavailable_limit
    step.note(f"metrics unavailable ({status.unavailable_checks}/{limit or '∞'}): {error}")
    if limit and status.unavailable_checks >= limit:
        return "Unavailable"
    return None
