"""What to do about a ModelRelease now: `decide(spec, status, observations, now)`.

Pure: the handler reads the world into `Observations`, calls `decide`, writes the new
status, then makes the cluster match it (`routing`). At most one transition is made per
call, and the cluster's shape is a function of status alone, so killing the operator
between any two of these steps loses nothing and repeats nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..api.common import set_condition
from ..api.release import (
    ModelRef,
    ModelReleaseSpec,
    ModelReleaseStatus,
    RiskStatus,
)
from ..api.release_status import ROLLING
from ..event import Event
from ..readiness import standard_conditions
from . import commands, gates, judge, monitoring, retraining, risk
from .durations import format_seconds, parse_duration
from .observations import VersionSnapshot
from .readiness import readiness
from .seen import Observations
from .transitions import Step


@dataclass
class Decision:
    status: ModelReleaseStatus
    events: list[Event]
    #: Transitions made ("start", "weight", "advance", "rollback", ...), for metrics.
    actions: list[str]
    #: Whether the gates were judged in this call.
    checked: bool = False


def _parse(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp) if stamp else None


def decide(
    spec: ModelReleaseSpec,
    status: ModelReleaseStatus,
    observations: Observations,
    now: datetime,
    generation: int | None = None,
) -> Decision:
    step = Step(spec, status.model_copy(deep=True), now)
    step.status.observed_generation = generation
    step.status.candidate_selection = observations.selection
    checked = False
    retraining.track(step, observations.retraining)
    if observations.command:
        commands.apply(step, observations.command, observations.name)
    if not step.moved:
        if step.status.stable is None:
            _bootstrap(step, observations)
        elif not _choose_candidate(step, observations):
            if step.status.phase in ROLLING:
                checked = _progress(step, observations)
            elif not step.moved:
                _monitor(step, observations)
    if not step.moved:
        retraining.trigger(step, observations.name)
    _finish(step, observations)
    return Decision(step.status, step.events, step.actions, checked)


def _bootstrap(step: Step, seen: Observations) -> None:
    """Nothing serves yet: deploy spec.stable (or else the candidate) at full weight."""
    source = seen.stable_source if step.spec.stable is not None else seen.candidate
    if source is None:
        step.note("nothing to serve: set spec.candidate or spec.stable")
        return
    if source.state in {"Rejected", "Failed"}:
        if step.status.phase != "Failed" or step.status.message != source.message:
            step.move("fail", "Failed", "SourceUnusable", source.message, "Warning")
        return
    if source.state != "Ready" or source.ref is None:
        step.note(source.message or "waiting for the model to be resolved")
        return
    step.status.stable = source.ref
    step.move(
        "deploy-stable",
        "Pending",
        "StableDeployed",
        f"deploying {source.ref.version} as the stable version",
    )


def _choose_candidate(step: Step, seen: Observations) -> bool:
    """Start, replace, withdraw or refuse a candidate; True when that moved the release."""
    status = step.status
    stable = status.stable
    assert stable is not None
    rolling = status.phase in ROLLING and status.candidate is not None
    found = seen.candidate
    if found is None or (found.ref is not None and found.ref.digest == stable.digest):
        if rolling:
            step.roll_back("CandidateWithdrawn", "spec.candidate no longer names the candidate")
            return True
        _settle(step, seen)
        return False
    if found.state == "Ready" and found.ref is not None:
        if rolling and status.candidate is not None and found.ref.digest == status.candidate.digest:
            return False
        if not rolling and found.ref.digest == status.rejected_digest:
            return False
        return _start(step, seen, found.ref, rolling)
    if found.state in {"Waiting", "Missing"}:
        if rolling:
            step.drop_candidate()
            step.move(
                "replace",
                "Pending",
                "CandidateReplaced",
                f"the candidate was replaced; traffic is back on stable: {found.message}",
            )
            return True
        if status.phase != "Failed" or status.rejected_digest is None:
            if status.phase in {"Succeeded", "Pending"}:
                status.phase = "Pending"
            step.note(found.message)
        return False
    # Rejected or Failed: never a candidate.
    if rolling or status.phase != "Failed" or status.message != found.message:
        if rolling:
            step.drop_candidate()
        step.move("fail", "Failed", "CandidateUnusable", found.message, "Warning")
        return True
    return False


#: Phases that end once spec.candidate names no model beyond the stable.
SETTLING = frozenset({"Pending", "RolledBack", "Failed"})


def _settle(step: Step, seen: Observations) -> None:
    """No candidate to roll out: the stable serves everything once it is ready.

    Also after a rollback or a failure, once spec.candidate names the stable again or
    nothing (the GitOps way to abort is to revert the commit that named the candidate):
    what the spec asks for is then reached, and the release must say so rather than stay
    RolledBack for ever.
    """
    status = step.status
    if status.phase in SETTLING and seen.stable_ready:
        assert status.stable is not None
        if status.candidate is not None:
            # The rolled-back candidate, already at zero: no longer asked for, its
            # Deployment goes.
            step.drop_candidate()
        step.move(
            "settle", "Succeeded", "StableReady", f"{status.stable.version} serves all traffic"
        )


def _start(step: Step, seen: Observations, candidate: ModelRef, replacing: bool) -> bool:
    status = step.status
    stable = status.stable
    assert stable is not None
    if not replacing and not seen.stable_ready:
        step.note(f"waiting for stable {stable.version} to be ready before the rollout")
        return False
    if candidate.version == stable.version:
        if replacing:
            step.drop_candidate()
        step.fail(
            "SameVersion",
            f"candidate and stable are both version {stable.version}: versions label the "
            "serving metrics and must differ",
        )
        return True
    verdict = risk.assess(step.spec.risk_check, candidate.metrics, stable.metrics)
    status.risk = RiskStatus(passed=verdict.passed, message=verdict.message)
    if not verdict.passed:
        if replacing:
            step.drop_candidate()
        status.rejected_digest = candidate.digest
        status.candidate = candidate
        status.deployed_at = None
        step.move("fail", "Failed", "RiskCheckFailed", verdict.message, "Warning")
        return True
    step.start(candidate, replacing)
    return True


def _progress(step: Step, seen: Observations) -> bool:
    """Walk the current stage: size, weight, judge, then move on, hold, or roll back."""
    spec, status = step.spec, step.status
    steps = step.plan
    if spec.paused and status.phase == "Progressing":
        step.pause("Spec", "spec.paused is true")
        return False
    if not spec.paused and status.phase == "Paused" and status.paused_reason == "Spec":
        step.resume("spec.paused is false again")
        return False
    stage = steps.stages[status.stage_index]
    target = 100 if status.promoting_fully else stage.weight
    if status.stage_started_at is None:
        _await_ready(step, seen, target)
        return False
    if status.promoting_fully or steps.promotes_only(status.stage_index):
        step.succeed()
        return False
    if judge.unavailable_too_long(step, seen):
        return True
    verdict = judge.check(step, seen, stage.min_requests)
    if verdict is None:
        return False
    if verdict == "Unavailable":
        judge.no_metrics(step)
        return True
    if verdict == "Fail":
        status.failed_checks += 1
        failing = next(g for g in status.gates if g.verdict == "Fail")
        limit = spec.analysis.failure_limit
        if status.failed_checks >= limit:
            step.roll_back("GateFailed", f"gate {failing.name} failed: {failing.message}", failing)
        else:
            step.events.append(
                Event(
                    "Warning",
                    "GateFailed",
                    f"gate {failing.name} failed ({status.failed_checks} of {limit} "
                    f"allowed): {failing.message}",
                )
            )
            step.note(f"check failed ({status.failed_checks}/{limit}): {failing.message}")
        return True
    if status.phase == "Paused":
        return True
    window = status.window
    assert window is not None
    started = _parse(window.started_at)
    assert started is not None
    left = parse_duration(stage.duration) - (step.now - started)
    label = steps.label(status.stage_index)
    if left > timedelta(0):
        step.note(f"stage {label}: {verdict}, {format_seconds(left.total_seconds())} left")
        return True
    if verdict == "Pass":
        if stage.pause:
            step.pause("Stage", f"stage {label} passed; waiting for promote")
        else:
            commands.advance(step, "StagePassed", f"stage {label} passed")
        return True
    waiting = next(g for g in status.gates if g.verdict == "Inconclusive")
    policy = spec.analysis.inconclusive
    why = f"gate {waiting.name} inconclusive: {waiting.message}"
    if policy == "Pause":
        step.pause("Inconclusive", f"stage {label}: {why}")
    elif policy == "Rollback":
        step.roll_back("Inconclusive", f"stage {label}: {why}", waiting)
    else:
        step.note(f"stage {label}: {why}; waiting for more data")
    return True


def _monitor(step: Step, seen: Observations) -> None:
    """spec.monitoring: judge the stable while no rollout runs and its pods are ready."""
    status = step.status
    if step.spec.monitoring is None or status.stable is None:
        status.monitoring = None
        return
    if status.monitoring is not None and status.monitoring.version != status.stable.version:
        status.monitoring = monitoring.fresh(status.stable)
    metrics = seen.metrics
    if not seen.stable_ready or metrics is None or metrics.error:
        return
    monitoring.check(step, metrics.versions.get(status.stable.version, VersionSnapshot()))


def _await_ready(step: Step, seen: Observations, target: int) -> None:
    status = step.status
    if seen.candidate_ready:
        step.apply_weight(target)
        return
    entered = _parse(status.stage_entered_at) or step.now
    deadline = parse_duration(step.spec.readiness_deadline)
    if step.now - entered > deadline:
        step.fail(
            "CandidateNotReady",
            f"the candidate's pods were not ready within {step.spec.readiness_deadline}",
        )
        return
    step.note(f"stage {step.plan.label(status.stage_index)}: waiting for the candidate's pods")


def _finish(step: Step, seen: Observations) -> None:
    """The display fields and conditions, from the status just decided."""
    status, now = step.status, step.now
    status.stage = step.plan.label(status.stage_index)
    status.stable_version = status.stable.version if status.stable else None
    status.candidate_version = status.candidate.version if status.candidate else None
    generation = status.observed_generation

    def condition(kind: str, value: str, reason: str, message: str) -> None:
        status.conditions = set_condition(
            status.conditions,
            type=kind,
            status=value,  # type: ignore[arg-type]
            reason=reason,
            message=message,
            now=now,
            generation=generation,
        )

    status.conditions = standard_conditions(
        status.conditions, readiness(status), now=now, generation=generation
    )
    status.health = monitoring.health(step.spec, status.monitoring)  # type: ignore[assignment]
    if step.spec.monitoring is not None:
        condition("Degraded", *monitoring.condition(status.monitoring))
    rolling = status.phase in ROLLING
    reason = status.history[-1].reason if status.history else status.phase
    condition("Progressing", "True" if rolling else "False", reason, status.message)
    condition(
        "Paused",
        "True" if status.phase == "Paused" else "False",
        f"Paused{status.paused_reason}" if status.paused_reason else "NotPaused",
        status.message if status.phase == "Paused" else "",
    )
    condition(
        "Available",
        "True" if seen.stable_ready else "False",
        "StableReady" if seen.stable_ready else "StableNotReady",
        f"stable {status.stable_version or '(none)'}",
    )
    if status.risk is not None:
        condition(
            "RiskCheckPassed",
            "True" if status.risk.passed else "False",
            "Passed" if status.risk.passed else "Refused",
            status.risk.message,
        )
    if status.gates:
        overall = gates.summary(status.gates)
        value = {"Pass": "True", "Fail": "False"}.get(overall, "Unknown")
        failing = [g.name for g in status.gates if g.verdict != "Pass"]
        condition(
            "GatesPassing",
            value,
            {"Pass": "AllPassed", "Fail": "GateFailed"}.get(overall, "Inconclusive"),
            ", ".join(failing) or "all gates passed",
        )
