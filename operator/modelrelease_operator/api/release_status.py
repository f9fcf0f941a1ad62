"""ModelRelease status: where a release is, enough to resume after a restart."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .common import ApiModel, Condition, ScoreReference, preserve_unknown

ReleasePhase = Literal["Pending", "Progressing", "Paused", "Succeeded", "RolledBack", "Failed"]
#: The phases of a rollout in progress (a candidate between stable and full traffic).
ROLLING: frozenset[str] = frozenset({"Progressing", "Paused"})
Verdict = Literal["Pass", "Fail", "Inconclusive"]
PauseReason = Literal["Manual", "Spec", "Stage", "Inconclusive", "Unavailable"]


class ModelRef(ApiModel):
    """A model version as resolved and deployed."""

    version: str
    uri: str
    digest: str
    training: str | None = None
    metrics: dict[str, Any] | None = Field(None, json_schema_extra=preserve_unknown())
    reference: ScoreReference | None = Field(
        None, description="Training score distribution, once read from the artifact."
    )


class VersionCounts(ApiModel):
    """Cumulative serving counters of one version, summed over its pods (compact)."""

    requests: int = 0
    errors: int = 0
    client_errors: int = 0
    latency: list[float] = Field(default_factory=list, description="Cumulative bucket counts.")
    scores: list[float] = Field(default_factory=list, description="Cumulative bucket counts.")
    feedback: int = 0
    feedback_correct: int = 0


class Window(ApiModel):
    """Where the current stage's judgement window began: counters to subtract."""

    started_at: str
    stable: VersionCounts = Field(default_factory=VersionCounts)
    candidate: VersionCounts = Field(default_factory=VersionCounts)
    candidate_restarts: int = Field(
        0, description="Container restarts of the candidate's pods when the window began."
    )


class GateStatus(ApiModel):
    """The last verdict of one gate."""

    name: str
    verdict: Verdict
    value: float | None = None
    threshold: float | None = None
    samples: int = 0
    message: str = ""


class HistoryEntry(ApiModel):
    time: str
    phase: ReleasePhase
    stage: str
    weight: int
    reason: str
    message: str = ""


class LastCommand(ApiModel):
    command: str
    time: str
    result: str = ""


class RiskStatus(ApiModel):
    passed: bool
    message: str


class SkippedTraining(ApiModel):
    name: str
    reason: str


#: Skipped trainings kept in status.candidateSelection (newest first): enough to see why
#: the latest commits did not ship, without a status that grows with every training.
SKIPPED_LIMIT = 5


class CandidateSelection(ApiModel):
    """Which ModelTraining spec.candidate.fromTrainings chose, and why not the others."""

    chosen: str | None = Field(None, description="The training that is the candidate now.")
    reason: str = ""
    skipped: list[SkippedTraining] = Field(
        default_factory=list,
        max_length=SKIPPED_LIMIT,
        description="Newer or matching trainings not chosen, newest first, with the reason.",
    )


class MonitoringCheckpoint(ApiModel):
    """The stable's cumulative counters at one moment: the start of later windows."""

    at: str
    counts: VersionCounts = Field(default_factory=VersionCounts)


Health = Literal["Healthy", "Degraded", "Unknown"]


class MonitoringStatus(ApiModel):
    """spec.monitoring's view of the stable, kept across restarts."""

    version: str = Field(description="The stable version these checks judge.")
    checkpoints: list[MonitoringCheckpoint] = Field(
        default_factory=list, max_length=16, description="Window starts, oldest first."
    )
    last_check_at: str | None = None
    failed_checks: int = Field(0, description="Consecutive failed checks.")
    degraded: bool = False
    degraded_since: str | None = None
    gates: list[GateStatus] = Field(default_factory=list)
    failed_gate: GateStatus | None = Field(None, description="The gate that degraded it.")


RetrainingTrigger = Literal["Degraded", "Schedule", "Command"]


class RetrainingRecord(ApiModel):
    """One ModelTraining that spec.retraining created."""

    name: str
    trigger: RetrainingTrigger
    reason: str = ""
    created_at: str
    dataset_uri: str
    phase: str = Field(
        "Creating", description="Creating, then the training's phase as last seen, or Deleted."
    )
    message: str = ""


class RetrainingStatus(ApiModel):
    sequence: int = Field(0, description="The number of the last retraining created.")
    current: RetrainingRecord | None = Field(None, description="The retraining in flight.")
    last_ended_at: str | None = None
    schedule_checked_at: str | None = Field(
        None, description="Schedule slots up to this time have been acted on."
    )
    history: list[RetrainingRecord] = Field(
        default_factory=list, description="Ended retrainings, oldest first."
    )


class ModelReleaseStatus(ApiModel):
    """Where the release is; enough to resume after a restart without acting twice."""

    phase: ReleasePhase = "Pending"
    message: str = ""
    observed_generation: int | None = None
    stage: str = Field("", description="Current stage as i/n, for kubectl get.")
    stage_index: int = Field(
        -1, description="0-based index into spec.stages; -1 before the first stage."
    )
    candidate_weight: int = Field(0, ge=0, le=100, description="Percent on the candidate.")
    stable_version: str | None = None
    candidate_version: str | None = None
    stable: ModelRef | None = None
    candidate: ModelRef | None = None
    previous: ModelRef | None = Field(
        None, description="The stable before the last promotion, scaled down, for a rollback."
    )
    rejected_digest: str | None = Field(
        None, description="A candidate rolled back or failed; not retried until changed."
    )
    deployed_at: str | None = Field(None, description="When the candidate was deployed.")
    stage_entered_at: str | None = Field(
        None, description="When the current stage began (its pods may still be starting)."
    )
    stage_started_at: str | None = Field(
        None, description="When the current stage's weight reached the candidate."
    )
    paused_reason: PauseReason | None = None
    promoting_fully: bool = Field(False, description="promote-full: skip the remaining stages.")
    window: Window | None = None
    last_check_at: str | None = None
    failed_checks: int = 0
    unavailable_checks: int = Field(0, description="Checks in a row without readable metrics.")
    candidate_unready_since: str | None = Field(
        None, description="When the candidate's pods stopped being ready during its stage."
    )
    gates: list[GateStatus] = Field(default_factory=list)
    failed_gate: GateStatus | None = Field(None, description="The gate that rolled back.")
    risk: RiskStatus | None = None
    history: list[HistoryEntry] = Field(default_factory=list)
    last_command: LastCommand | None = None
    candidate_selection: CandidateSelection | None = Field(
        None, description="spec.candidate.fromTrainings: the training chosen and why."
    )
    health: Health | None = Field(
        None, description="spec.monitoring's verdict on the stable, for kubectl get."
    )
    monitoring: MonitoringStatus | None = None
    retraining: RetrainingStatus | None = None
    conditions: list[Condition] = Field(default_factory=list)
