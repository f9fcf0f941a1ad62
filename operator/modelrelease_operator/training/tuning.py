"""What to do about a tuning ModelTraining (spec.tuning), given its trial Jobs and pods.

`decide_tuning` is pure, like decide.decide. Each call:
1. reads the end of every trial that status holds as Running from its Job (Complete with
   the objective's value, or Failed with the reason), and keeps the best trial's result in
   status.metrics/artifact/headline;
2. asks optuna for new trials until `parallelism` run or `trials` were asked, and records
   them as Running in status: the handler writes that status *before* it creates their
   Jobs, so a restart finds the trial in status and creates the same Job (named after the
   trial's number) rather than asking again;
3. once every trial has ended, judges the best one with the quality gate.
A trial that status holds as Running but has no Job is created (again): the operator may
have died after recording it and before creating it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ..api.common import set_condition, utc_timestamp
from ..api.training import ArtifactRef, ModelTrainingSpec, ModelTrainingStatus
from ..api.tuning import BestTrial, TrialStatus, TuningStatus
from ..event import Event
from ..readiness import standard_conditions
from . import gates, search
from .decide import (
    HEADLINE,
    TERMINAL,
    failure_reason,
    job_condition,
    score_reference,
    trainer_summary,
)
from .jobs import model_version
from .readiness import readiness
from .trial_jobs import trial_artifact, trial_job_name

#: A failure reason kept in status is cut to this (500 trials must fit in one object).
MESSAGE_LENGTH = 300


@dataclass(frozen=True)
class TuningObservation:
    """The trial Jobs (by name) and their pods (by Job name) as the handler read them."""

    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    pods: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    baseline: gates.Baseline | None = None


@dataclass(frozen=True)
class TrialJob:
    """A trial Job to create: its number and the parameters it trains with."""

    number: int
    params: dict[str, Any]


@dataclass
class TuningDecision:
    status: ModelTrainingStatus
    create_jobs: list[TrialJob] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def seed(spec: ModelTrainingSpec) -> int:
    assert spec.tuning is not None
    return spec.tuning.seed if spec.tuning.seed is not None else spec.dataset.seed


def progress(spec: ModelTrainingSpec, tuning: TuningStatus) -> str:
    """ "trials 12/40, best roc_auc=0.8610": ended trials of all, and the best value."""
    assert spec.tuning is not None
    ended = sum(1 for t in tuning.trials if t.state != "Running")
    text = f"trials {ended}/{spec.tuning.trials}"
    running = sum(1 for t in tuning.trials if t.state == "Running")
    if running:
        text += f" ({running} running)"
    if tuning.best is not None:
        text += f", best {spec.tuning.objective.metric}={tuning.best.value:.4f}"
    return text


def _better(maximize: bool, value: float, best: BestTrial | None) -> bool:
    if best is None:
        return True
    return value > best.value if maximize else value < best.value


def _objective(spec: ModelTrainingSpec, metrics: dict[str, Any]) -> float | str:
    assert spec.tuning is not None
    metric = spec.tuning.objective.metric
    value = metrics.get(metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return f"the trial reported no {metric}"
    return float(value)


def decide_tuning(
    spec: ModelTrainingSpec,
    status: ModelTrainingStatus,
    *,
    name: str,
    generation: int | None,
    observed: TuningObservation,
    now: datetime,
) -> TuningDecision:
    decision = _walk(spec, status, name=name, generation=generation, observed=observed, now=now)
    new = decision.status
    new.conditions = standard_conditions(
        new.conditions, readiness(new), now=now, generation=generation
    )
    return decision


def _walk(
    spec: ModelTrainingSpec,
    status: ModelTrainingStatus,
    *,
    name: str,
    generation: int | None,
    observed: TuningObservation,
    now: datetime,
) -> TuningDecision:
    tuning = spec.tuning
    assert tuning is not None, "decide_tuning is for trainings with spec.tuning"
    new = status.model_copy(deep=True)
    new.observed_generation = generation
    decision = TuningDecision(status=new)
    if status.phase in TERMINAL:
        return decision
    state = new.tuning = new.tuning or TuningStatus()
    new.model_version = new.model_version or model_version(spec, name)
    maximize = tuning.objective.maximize()

    def condition(kind: str, value: bool, reason: str, message: str) -> None:
        new.conditions = set_condition(
            new.conditions,
            type=kind,
            status="True" if value else "False",
            reason=reason,
            message=message,
            now=now,
            generation=generation,
        )

    def finish(
        phase: Literal["Succeeded", "Failed", "Rejected"],
        reason: str,
        message: str,
        event: Literal["Normal", "Warning"],
    ) -> TuningDecision:
        state.progress = progress(spec, state)
        new.phase, new.message = phase, message
        new.completion_time = new.completion_time or utc_timestamp(now)
        decision.events.append(Event(event, reason, message))
        return decision

    # 1. Read the end of every running trial.
    for trial in state.trials:
        if trial.state != "Running":
            continue
        job = observed.jobs.get(trial.job_name)
        if job is None:
            decision.create_jobs.append(TrialJob(trial.number, dict(trial.params)))
            continue
        pods = observed.pods.get(trial.job_name, [])
        new.start_time = new.start_time or (job.get("status") or {}).get("startTime")
        if job_condition(job, "Failed"):
            _fail(trial, failure_reason(job, pods), decision)
            continue
        if not job_condition(job, "Complete"):
            continue
        summary = trainer_summary(pods)
        value = _objective(spec, summary["metrics"]) if isinstance(summary, dict) else summary
        if isinstance(value, str):
            _fail(trial, value, decision)
            continue
        assert isinstance(summary, dict)
        trial.state, trial.value = "Complete", value
        if _better(maximize, value, state.best):
            state.best = BestTrial(number=trial.number, value=value, params=dict(trial.params))
            _adopt(spec, name, new, trial, summary)
            decision.events.append(
                Event(
                    "Normal",
                    "NewBestTrial",
                    f"trial {trial.number}: {tuning.objective.metric}={value:.4f}",
                )
            )

    # 2. Ask for new trials while there is room.
    running = sum(1 for t in state.trials if t.state == "Running")
    room = min(tuning.parallelism - running, tuning.trials - len(state.trials))
    if room > 0:
        numbers = sorted(t.number for t in state.trials)
        if numbers != list(range(len(numbers))):
            # Optuna numbers trials 0, 1, 2, ...; a status that does not cannot be resumed.
            condition("Trained", False, "BrokenStatus", "status.tuning.trials is not 0..n-1")
            return finish(
                "Failed",
                "BrokenStatus",
                "status.tuning.trials is not numbered 0..n-1",
                "Warning",
            )
        asked = search.ask(tuning, state.trials, seed(spec) + len(state.trials), room)
        first = len(state.trials)
        for offset, params in enumerate(asked):
            number = first + offset
            state.trials.append(
                TrialStatus(
                    number=number,
                    state="Running",
                    params=params,
                    job_name=trial_job_name(name, number),
                )
            )
            decision.create_jobs.append(TrialJob(number, params))
        span = f"trial {first}" if len(asked) == 1 else f"trials {first}-{first + len(asked) - 1}"
        decision.events.append(Event("Normal", "TrialsStarted", f"started {span}"))
        if not status.tuning or not status.tuning.trials:
            condition("JobCreated", True, "Created", "trial Jobs created")

    state.progress = progress(spec, state)
    if any(t.state == "Running" for t in state.trials):
        new.phase = "Running" if status.phase == "Running" or _started(observed) else "Pending"
        new.message = f"tuning: {state.progress}"
        return decision

    # 3. Every trial ended: the best one is the training's model.
    if state.best is None:
        last = max(state.trials, key=lambda t: t.number)
        message = f"all {len(state.trials)} trials failed; trial {last.number}: {last.message}"
        condition("Trained", False, "AllTrialsFailed", message)
        return finish("Failed", "AllTrialsFailed", message, "Warning")
    best = state.best
    condition(
        "Trained",
        True,
        "Completed",
        f"model {new.model_version} trained: best of {len(state.trials)} trials is "
        f"trial {best.number}",
    )
    results = gates.evaluate(spec.quality_gate, new.metrics or {}, observed.baseline)
    new.gate = results
    failed = [r for r in results if not r.passed]
    if failed:
        message = f"quality gate failed for trial {best.number}: " + "; ".join(
            r.message for r in failed
        )
        condition("QualityGatePassed", False, "ThresholdMissed", message)
        return finish("Rejected", "QualityGateFailed", message, "Warning")
    summary_text = "; ".join(r.message for r in results) or "no thresholds"
    condition("QualityGatePassed", True, "ThresholdsMet", summary_text)
    return finish(
        "Succeeded",
        "Succeeded",
        f"model {new.model_version} trained: trial {best.number} of {len(state.trials)} "
        f"({new.headline or 'no headline'}); gate: {summary_text}",
        "Normal",
    )


def _started(observed: TuningObservation) -> bool:
    """Whether any trial pod runs or ran: the training is under way, not waiting."""
    return any(
        (pod.get("status") or {}).get("phase") in {"Running", "Succeeded", "Failed"}
        for pods in observed.pods.values()
        for pod in pods
    )


def _fail(trial: TrialStatus, reason: str, decision: TuningDecision) -> None:
    trial.state, trial.value = "Failed", None
    trial.message = reason[:MESSAGE_LENGTH]
    decision.events.append(Event("Warning", "TrialFailed", f"trial {trial.number}: {reason}"))


def _adopt(
    spec: ModelTrainingSpec,
    name: str,
    new: ModelTrainingStatus,
    trial: TrialStatus,
    summary: dict[str, Any],
) -> None:
    """Make the trial's result the training's, as a plain training's would be."""
    uri, _ = trial_artifact(spec, name, trial.number)
    metrics = summary["metrics"]
    new.metrics = metrics
    new.artifact = ArtifactRef(uri=str(summary.get("artifactUri") or uri), digest=summary["digest"])
    new.score_reference = score_reference(summary)
    new.job_name = trial.job_name
    headline = HEADLINE[spec.task]
    value = metrics.get(headline)
    new.headline = f"{headline}={value:.4f}" if isinstance(value, (int, float)) else None
