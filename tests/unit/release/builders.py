"""Specs, model references and serving traffic for the release tests."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from modelrelease_operator.api.release import (
    CandidateSelection,
    ModelRef,
    ModelReleaseSpec,
    ModelReleaseStatus,
    ScoreReference,
)
from modelrelease_operator.release.decide import Decision, decide
from modelrelease_operator.release.observations import Histogram, VersionSnapshot
from modelrelease_operator.release.seen import MetricsRead, Observations, Resolution

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, math.inf)
SCORE_EDGES = tuple(round(0.05 * i, 2) for i in range(21))
SCORE_BOUNDS = (*SCORE_EDGES, math.inf)


def digest(seed: str) -> str:
    return "sha256:" + (seed * 64)[:64]


def reference(mean: float = 0.3, total: int = 3000) -> ScoreReference:
    return ScoreReference(edges=list(SCORE_EDGES), counts=list(score_counts(mean, total)))


def score_counts(mean: float, total: float) -> tuple[float, ...]:
    """Counts per score bucket of a Beta-shaped distribution around `mean`."""
    rng = np.random.default_rng(7)
    scores = rng.beta(mean * 10, (1 - mean) * 10, size=20000)
    slots = np.searchsorted(np.asarray(SCORE_EDGES), scores, side="left")
    counts = np.bincount(slots, minlength=len(SCORE_BOUNDS)).astype(float)
    return tuple(counts / counts.sum() * total)


def ref(version: str, seed: str, **metrics: float) -> ModelRef:
    return ModelRef(
        version=version,
        uri=f"pvc://models/loan-default/{version}",
        digest=digest(seed),
        training=version,
        metrics=metrics or {"roc_auc": 0.86, "log_loss": 0.3},
        reference=reference(),
    )


V1 = ref("v1", "a")
V2 = ref("v2", "b")
V3 = ref("v3", "c")


def make_spec(**overrides: Any) -> ModelReleaseSpec:
    document: dict[str, Any] = {
        "modelName": "loan-default",
        "candidate": {"training": "v2"},
        "serving": {"replicas": 4},
        "stages": [
            {"weight": 10, "duration": "1m", "minRequests": 100},
            {"weight": 25, "duration": "1m", "minRequests": 100},
            {"weight": 50, "duration": "1m", "minRequests": 100},
            {"weight": 100, "duration": "1m", "minRequests": 100},
        ],
        "analysis": {
            "interval": "15s",
            "gates": {
                "errorRate": {"max": 0.02},
                "latency": {"quantile": 0.99, "maxSeconds": 0.25},
                "drift": {"maxPsi": 0.2},
                "relative": {
                    "errorRate": {"alpha": 0.05, "tolerance": 0.01},
                    "latency": {"quantile": 0.99, "maxRatio": 1.5},
                },
            },
        },
    }
    document.update(overrides)
    return ModelReleaseSpec.model_validate(document)


def ready(model: ModelRef) -> Resolution:
    return Resolution("Ready", model, f"training {model.version} succeeded")


def steady(stable: ModelRef = V1) -> ModelReleaseStatus:
    """A release serving `stable` with nothing in flight."""
    return ModelReleaseStatus(
        phase="Succeeded",
        stable=stable,
        stable_version=stable.version,
    )


@dataclass
class Behaviour:
    """How one version serves: error share, latency (seconds), score mean."""

    error_rate: float = 0.002
    latency: float = 0.02
    score_mean: float = 0.3


@dataclass
class Traffic:
    """Cumulative serving counters per version, grown by simulated requests."""

    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    snapshots: dict[str, VersionSnapshot] = field(default_factory=dict)

    def serve(self, version: str, requests: float) -> None:
        if requests <= 0:
            return
        how = self.behaviours.get(version, Behaviour())
        latency = _latency_counts(how.latency, requests)
        scores = score_counts(how.score_mean, requests)
        grown = VersionSnapshot(
            requests=requests,
            server_errors=round(requests * how.error_rate),
            latency=Histogram(LATENCY_BOUNDS, tuple(np.cumsum(latency))),
            scores=Histogram(SCORE_BOUNDS, tuple(np.cumsum(scores))),
        )
        before = self.snapshots.get(version)
        self.snapshots[version] = grown if before is None else before.plus(grown)

    def read(self) -> MetricsRead:
        return MetricsRead(versions=dict(self.snapshots))


def _latency_counts(typical: float, requests: float) -> tuple[float, ...]:
    """Log-normal latencies around `typical`, bucketed."""
    rng = np.random.default_rng(11)
    samples = rng.lognormal(math.log(typical), 0.35, size=5000)
    slots = np.searchsorted(np.asarray(LATENCY_BOUNDS), samples, side="left")
    counts = np.bincount(slots, minlength=len(LATENCY_BOUNDS)).astype(float)
    return tuple(counts / counts.sum() * requests)


@dataclass
class Simulation:
    """The operator's loop with a make-believe cluster: ticks of `interval`, pods ready
    as soon as asked for, `rps` requests a second split by the candidate's weight."""

    spec: ModelReleaseSpec
    status: ModelReleaseStatus
    traffic: Traffic = field(default_factory=Traffic)
    now: datetime = NOW
    rps: float = 20.0
    candidate: Resolution | None = field(default_factory=lambda: ready(V2))
    #: spec.candidate.fromTrainings: what chose `candidate` (see test_candidates).
    selection: CandidateSelection | None = None
    candidate_ready: bool = True
    #: The release's name, and what the in-flight retraining looks like (None: absent).
    name: str = "loan"
    retraining: tuple[str, str] | None = None
    #: Container restarts of the candidate's pods; a metrics read that fails with this.
    candidate_restarts: int | None = None
    metrics_error: str | None = None
    phases: list[str] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    def tick(self, seconds: float = 15.0, command: str | None = None) -> Decision:
        weight = (
            self.status.candidate_weight if self.status.phase in {"Progressing", "Paused"} else 0
        )
        if self.status.candidate is not None and weight:
            self.traffic.serve(self.status.candidate.version, self.rps * seconds * weight / 100)
        if self.status.stable is not None:
            self.traffic.serve(
                self.status.stable.version, self.rps * seconds * (100 - weight) / 100
            )
        self.now += timedelta(seconds=seconds)
        observed = Observations(
            candidate=self.candidate,
            stable_ready=True,
            candidate_ready=self.candidate_ready,
            metrics=MetricsRead(error=self.metrics_error)
            if self.metrics_error
            else self.traffic.read(),
            command=command,
            selection=self.selection,
            retraining=self.retraining,
            name=self.name,
            candidate_restarts=self.candidate_restarts,
        )
        decision = decide(self.spec, self.status, observed, self.now, generation=1)
        self.status = decision.status
        self.decisions.append(decision)
        if not self.phases or self.phases[-1] != self._where():
            self.phases.append(self._where())
        return decision

    def _where(self) -> str:
        return f"{self.status.phase} {self.status.stage} {self.status.candidate_weight}%"

    def run(self, ticks: int, until: set[str] | None = None) -> None:
        for _ in range(ticks):
            self.tick()
            if until and self.status.phase in until:
                return
