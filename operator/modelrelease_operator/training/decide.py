"""What to do about a ModelTraining, given what its Job and pods look like now.

`decide` is pure: the handler observes, calls it, creates the Job if told to,
writes the returned status and emits the returned events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from ..api.common import ScoreReference, set_condition, utc_timestamp
from ..api.training import ArtifactRef, ModelTrainingSpec, ModelTrainingStatus
from ..event import Event
from ..readiness import standard_conditions
from . import gates
from .distributed import job_name, leaders
from .jobs import artifact_location, model_version
from .readiness import readiness

TERMINAL = frozenset({"Succeeded", "Failed", "Rejected"})
HEADLINE = {"binary": "roc_auc", "multiclass": "roc_auc", "regression": "rmse"}


@dataclass(frozen=True)
class Observation:
    """The world as the handler read it this time."""

    job: dict[str, Any] | None
    pods: list[dict[str, Any]] = field(default_factory=list)
    baseline: gates.Baseline | None = None


@dataclass
class Decision:
    status: ModelTrainingStatus
    create_job: bool = False
    events: list[Event] = field(default_factory=list)


def job_condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return dict(condition)
    return None


def _terminated(pod: dict[str, Any]) -> dict[str, Any] | None:
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        state = (container.get("state") or {}).get("terminated")
        if state:
            return dict(state)
    return None


def _newest(pods: list[dict[str, Any]], phase: str) -> dict[str, Any] | None:
    chosen = [p for p in pods if (p.get("status") or {}).get("phase") == phase]
    chosen.sort(key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "")
    return chosen[-1] if chosen else None


def _unschedulable(pods: list[dict[str, Any]]) -> str | None:
    for pod in pods:
        for condition in (pod.get("status") or {}).get("conditions") or []:
            if (
                condition.get("type") == "PodScheduled"
                and condition.get("status") == "False"
                and condition.get("reason") == "Unschedulable"
            ):
                return str(condition.get("message") or "no node fits the pod")
    return None


def failure_reason(job: dict[str, Any], pods: list[dict[str, Any]]) -> str:
    pod = _newest(pods, "Failed")
    state = _terminated(pod) if pod else None
    if state:
        message = (state.get("message") or "").strip()
        try:
            parsed = json.loads(message)
            if isinstance(parsed, dict) and parsed.get("error"):
                message = str(parsed["error"])
        except ValueError:
            pass
        detail = f"exit code {state.get('exitCode')}, {state.get('reason') or 'Error'}"
        return f"{message} ({detail})" if message else detail
    failed = job_condition(job, "Failed") or {}
    return f"{failed.get('reason', 'Failed')}: {failed.get('message', 'the Job failed')}"


def trainer_summary(pods: list[dict[str, Any]]) -> dict[str, Any] | str:
    """The trainer's JSON summary from the succeeded pod (rank 0's of a distributed
    training), or why it cannot be read."""
    pod = _newest(leaders(pods), "Succeeded")
    state = _terminated(pod) if pod else None
    if not state or not state.get("message"):
        return "the succeeded pod left no termination message"
    try:
        summary = json.loads(state["message"])
    except ValueError:
        return "the termination message is not JSON"
    if not isinstance(summary, dict) or not isinstance(summary.get("metrics"), dict):
        return "the termination message has no metrics"
    if not isinstance(summary.get("digest"), str):
        return "the termination message has no digest"
    return summary


def score_reference(summary: dict[str, Any]) -> ScoreReference | None:
    """The trainer's reference score histogram, when it sent a well-formed one."""
    try:
        return ScoreReference.model_validate(summary.get("scoreReference"))
    except ValidationError:
        return None


def decide(
    spec: ModelTrainingSpec,
    status: ModelTrainingStatus,
    *,
    name: str,
    generation: int | None,
    observed: Observation,
    now: datetime,
) -> Decision:
    decision = _walk(spec, status, name=name, generation=generation, observed=observed, now=now)
    # Also for a training that finished before these conditions existed: its next
    # look adds them, so GitOps tools see every training the same way.
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
    observed: Observation,
    now: datetime,
) -> Decision:
    """The new status and what to do: at most one move along the training's life."""
    new = status.model_copy(deep=True)
    new.observed_generation = generation
    decision = Decision(status=new)
    if status.phase in TERMINAL:
        return decision

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
    ) -> Decision:
        new.phase, new.message = phase, message
        new.completion_time = new.completion_time or utc_timestamp(now)
        decision.events.append(Event(event, reason, message))
        return decision

    job = observed.job
    if job is None:
        if status.job_name:
            return finish(
                "Failed",
                "JobLost",
                f"Job {status.job_name} disappeared before its result was read",
                "Warning",
            )
        new.job_name = job_name(spec, name)
        new.phase, new.message = "Pending", "training Job created"
        new.model_version = model_version(spec, name)
        condition("JobCreated", True, "Created", f"Job {new.job_name} created")
        decision.create_job = True
        decision.events.append(Event("Normal", "JobCreated", f"created Job {new.job_name}"))
        return decision

    new.job_name = (job.get("metadata") or {}).get("name", new.job_name)
    new.model_version = new.model_version or model_version(spec, name)
    start = (job.get("status") or {}).get("startTime")
    new.start_time = new.start_time or start

    if job_condition(job, "Failed"):
        reason = failure_reason(job, observed.pods)
        condition("Trained", False, "JobFailed", reason)
        return finish("Failed", "TrainingFailed", f"training failed: {reason}", "Warning")

    if job_condition(job, "Complete"):
        summary = trainer_summary(observed.pods)
        if isinstance(summary, str):
            condition("Trained", False, "NoResult", summary)
            return finish("Failed", "NoResult", summary, "Warning")
        metrics = summary["metrics"]
        uri, _, _ = artifact_location(spec, name)
        new.metrics = metrics
        new.artifact = ArtifactRef(
            uri=str(summary.get("artifactUri") or uri), digest=summary["digest"]
        )
        new.score_reference = score_reference(summary)
        headline = HEADLINE[spec.task]
        if isinstance(metrics.get(headline), (int, float)):
            new.headline = f"{headline}={metrics[headline]:.4f}"
        new.completion_time = (job.get("status") or {}).get("completionTime")
        condition("Trained", True, "Completed", f"model {new.model_version} trained")
        results = gates.evaluate(spec.quality_gate, metrics, observed.baseline)
        new.gate = results
        failed = [r for r in results if not r.passed]
        if failed:
            message = "quality gate failed: " + "; ".join(r.message for r in failed)
            condition("QualityGatePassed", False, "ThresholdMissed", message)
            return finish("Rejected", "QualityGateFailed", message, "Warning")
        summary_text = "; ".join(r.message for r in results) or "no thresholds"
        condition("QualityGatePassed", True, "ThresholdsMet", summary_text)
        return finish(
            "Succeeded",
            "Succeeded",
            f"model {new.model_version} trained ({new.headline or 'no headline'}); "
            f"gate: {summary_text}",
            "Normal",
        )

    blocked = _unschedulable(observed.pods)
    if blocked:
        if new.message != f"pod unschedulable: {blocked}":
            decision.events.append(Event("Warning", "Unschedulable", blocked))
        new.phase, new.message = "Pending", f"pod unschedulable: {blocked}"
        condition("Scheduled", False, "Unschedulable", blocked)
        return decision
    running = _newest(observed.pods, "Running")
    if running:
        if status.phase != "Running":
            decision.events.append(
                Event("Normal", "Running", f"training pod {running['metadata']['name']} running")
            )
        new.phase, new.message = "Running", "training"
        condition(
            "Scheduled",
            True,
            "Scheduled",
            f"pod scheduled to {(running.get('spec') or {}).get('nodeName')}",
        )
        return decision
    new.phase = "Pending"
    new.message = "waiting for the training pod"
    return decision
