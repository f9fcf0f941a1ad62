"""What the handler observed of a release's world, as `decide` takes it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..api.release import CandidateSelection, ModelRef
from .observations import VersionSnapshot

ResolutionState = Literal["Ready", "Waiting", "Missing", "Rejected", "Failed"]


@dataclass(frozen=True)
class Resolution:
    """A model source (spec.stable or spec.candidate) as the handler found it."""

    state: ResolutionState
    ref: ModelRef | None = None
    message: str = ""


@dataclass(frozen=True)
class MetricsRead:
    """One read of the metrics provider: version → cumulative snapshot."""

    versions: Mapping[str, VersionSnapshot] = field(default_factory=dict)
    custom: Mapping[str, float | None] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class Observations:
    """The world as the handler read it this time."""

    candidate: Resolution | None = None
    stable_source: Resolution | None = None
    #: The Deployments match what status asks of them and their pods are ready.
    stable_ready: bool = False
    candidate_ready: bool = False
    metrics: MetricsRead | None = None
    command: str | None = None
    #: spec.candidate.fromTrainings: which training `candidate` is and why (`candidates`).
    selection: CandidateSelection | None = None
    #: The retraining in flight (status.retraining.current): (phase, message), None when
    #: no such ModelTraining exists.
    retraining: tuple[str, str] | None = None
    #: The release's name (retrainings are named after it).
    name: str = ""
    #: Container restarts summed over the candidate's pods (None: not read).
    candidate_restarts: int | None = None
