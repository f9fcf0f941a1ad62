"""A tuning training's world for the pure core's tests: trial Jobs that end as a test
says, with the trainer's termination message, and status carried from one decision to
the next as the API server would (through JSON)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from modelrelease_operator.api.training import ModelTrainingSpec, ModelTrainingStatus
from modelrelease_operator.training.tuning import (
    TuningDecision,
    TuningObservation,
    decide_tuning,
)

from .specs import make_spec

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
NAME = "t1"
SPACE = {
    "max_depth": {"type": "int", "low": 2, "high": 10},
    "learning_rate": {"type": "float", "low": 0.01, "high": 0.5, "log": True},
    "grow_policy": {"type": "categorical", "choices": ["depthwise", "lossguide"]},
}


def tuning_spec(**tuning: Any) -> ModelTrainingSpec:
    settings = {
        "parameters": SPACE,
        "trials": 8,
        "parallelism": 3,
        "objective": {"metric": "roc_auc"},
        **tuning,
    }
    spec: dict[str, Any] = {"tuning": settings, "qualityGate": {"thresholds": []}}
    return make_spec(**spec)


def score(params: dict[str, Any]) -> float:
    """A made-up roc_auc that depends on every parameter: best near max_depth 6,
    learning_rate 0.1 and lossguide."""
    depth = -((params["max_depth"] - 6) ** 2) * 0.004
    rate = -((math.log10(params["learning_rate"]) + 1) ** 2) * 0.05
    policy = 0.01 if params["grow_policy"] == "lossguide" else 0.0
    return float(round(0.85 + depth + rate + policy, 6))


def summary(number: int, metrics: dict[str, Any]) -> str:
    return json.dumps(
        {
            "metrics": metrics,
            "artifactUri": f"pvc://model-store/loan-default/{NAME}/trial-{number}",
            "digest": f"sha256:{number:064x}",
            "scoreReference": {"edges": [0.5], "counts": [1, number]},
        }
    )


def job(name: str, *conditions: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "status": {
            "startTime": "2026-11-23T09:59:00Z",
            "conditions": [
                {"type": c, "status": "True", "reason": c, "message": f"job {c}"}
                for c in conditions
            ],
        },
    }


def pod(phase: str, message: str | None = None, exit_code: int = 0) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if phase in {"Succeeded", "Failed"}:
        terminated: dict[str, Any] = {"exitCode": exit_code, "reason": "Completed"}
        if message is not None:
            terminated["message"] = message
        status["containerStatuses"] = [{"name": "trainer", "state": {"terminated": terminated}}]
    return {"metadata": {"creationTimestamp": "2026-11-23T09:59:00Z"}, "status": status}


def through_json(status: ModelTrainingStatus) -> ModelTrainingStatus:
    """Status as the next reconcile reads it back from the API server."""
    return ModelTrainingStatus.model_validate(json.loads(json.dumps(status.to_wire())))


class World:
    """Trial Jobs by name, their params, and their pods."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.pods: dict[str, list[dict[str, Any]]] = {}
        self.params: dict[str, dict[str, Any]] = {}
        self.created: list[str] = []
        #: The most trial Jobs that were ever unfinished at once.
        self.most_running = 0

    def observation(self) -> TuningObservation:
        return TuningObservation(jobs=dict(self.jobs), pods=dict(self.pods))

    def create(self, decision: TuningDecision) -> None:
        """What the handler does after writing status: create each Job (409: keep it)."""
        for trial in decision.create_jobs:
            name = f"{NAME}-trial-{trial.number}"
            self.created.append(name)
            if name in self.jobs:
                continue
            self.jobs[name] = job(name)
            self.pods[name] = [pod("Running")]
            self.params[name] = dict(trial.params)
        self.most_running = max(self.most_running, len(self.running()))

    def running(self) -> list[str]:
        return sorted(n for n, j in self.jobs.items() if not j["status"]["conditions"])

    def complete(self, name: str, metrics: dict[str, Any] | None = None) -> None:
        number = int(name.rsplit("-", 1)[1])
        found = metrics if metrics is not None else {"roc_auc": score(self.params[name])}
        self.jobs[name] = job(name, "Complete")
        self.pods[name] = [pod("Succeeded", summary(number, found))]

    def fail(self, name: str, error: str = "out of memory") -> None:
        self.jobs[name] = job(name, "Failed")
        self.pods[name] = [pod("Failed", json.dumps({"error": error}), exit_code=1)]


def step(
    spec: ModelTrainingSpec, status: ModelTrainingStatus, world: World, *, create: bool = True
) -> TuningDecision:
    decision = decide_tuning(
        spec, status, name=NAME, generation=1, observed=world.observation(), now=NOW
    )
    if create:
        world.create(decision)
    return decision
