"""Releases and trainings as the API server returns them (camelCase), one per phase, for
the plugin's table tests: built the way the operator leaves them (release/transitions.py)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

NOW = datetime(2026, 11, 23, 10, 12, 0, tzinfo=UTC)


def stamp(minute: int, second: int = 0) -> str:
    return f"2026-11-23T10:{minute:02d}:{second:02d}Z"


def ref(version: str, seed: str, roc_auc: float) -> dict[str, Any]:
    return {
        "version": version,
        "uri": f"s3://models/loan-default/loan-default-{version}",
        "digest": "sha256:" + seed * 64,
        "training": f"loan-default-{version}",
        "metrics": {"roc_auc": roc_auc, "log_loss": 0.31},
    }


V1 = ref("v1", "a", 0.8249)
V2 = ref("v2", "b", 0.8311)
V0 = ref("v0", "c", 0.8102)

SPEC: dict[str, Any] = {
    "modelName": "loan-default",
    "candidate": {"training": "loan-default-v2"},
    "stages": [
        {"weight": 10, "duration": "1m", "minRequests": 100},
        {"weight": 25, "duration": "1m", "minRequests": 100},
        {"weight": 50, "duration": "2m", "minRequests": 100, "pause": True},
        {"weight": 100, "duration": "2m", "minRequests": 100},
    ],
    "analysis": {
        "interval": "15s",
        "failureLimit": 2,
        "gates": {"errorRate": {"max": 0.01}, "latency": {"quantile": 0.99, "maxSeconds": 0.25}},
    },
}

GATES_PASSING = [
    {
        "name": "traffic",
        "verdict": "Pass",
        "value": 412,
        "threshold": 100,
        "samples": 412,
        "message": "412 candidate requests (>= 100)",
    },
    {
        "name": "error-rate",
        "verdict": "Pass",
        "value": 0.002427,
        "threshold": 0.01,
        "samples": 412,
        "message": "error rate 0.002427 <= 0.01 over 412",
    },
    {
        "name": "latency-p99",
        "verdict": "Pass",
        "value": 0.0875,
        "threshold": 0.25,
        "samples": 412,
        "message": "p99 seconds 0.0875 <= 0.25 over 412",
    },
]

GATES_WAITING = [
    {
        "name": "traffic",
        "verdict": "Inconclusive",
        "threshold": None,
        "samples": 12,
        "message": "12 candidate requests of the 100 needed",
    },
    {
        "name": "error-rate",
        "verdict": "Inconclusive",
        "threshold": 0.01,
        "samples": 12,
        "message": "12 requests of the 100 needed",
    },
]

LATENCY_FAILED = {
    "name": "latency-p99",
    "verdict": "Fail",
    "value": 0.41,
    "threshold": 0.25,
    "samples": 1200,
    "message": "p99 seconds 0.41 > 0.25 over 1200",
}


def history(*entries: tuple[int, str, str, int, str, str]) -> list[dict[str, Any]]:
    return [
        {
            "time": stamp(minute),
            "phase": phase,
            "stage": stage,
            "weight": weight,
            "reason": reason,
            "message": message,
        }
        for minute, phase, stage, weight, reason, message in entries
    ]


ROLLOUT_HISTORY = history(
    (0, "Pending", "", 0, "StableDeployed", "deploying v1 as the stable version"),
    (1, "Succeeded", "", 0, "StableReady", "v1 serves all traffic"),
    (
        6,
        "Progressing",
        "1/4",
        0,
        "RolloutStarted",
        "candidate v2 starts: deploying it for stage 1/4 (10%)",
    ),
    (7, "Progressing", "1/4", 10, "WeightSet", "stage 1/4: 10% of traffic on candidate v2"),
    (8, "Progressing", "2/4", 10, "StagePassed", "stage 1/4 passed: stage 2/4 (25%)"),
    (9, "Progressing", "2/4", 25, "WeightSet", "stage 2/4: 25% of traffic on candidate v2"),
)


def release(status: dict[str, Any] | None, *, generation: int = 2, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelrelease.dev/v1alpha1",
        "kind": "ModelRelease",
        "metadata": {
            "name": "loan-default",
            "namespace": "ml",
            "uid": "7c1f0e5e-0000-4000-8000-000000000001",
            "generation": generation,
            "resourceVersion": "4242",
            "creationTimestamp": stamp(0),
        },
        "spec": {**copy.deepcopy(SPEC), **spec},
        **({"status": status} if status is not None else {}),
    }


def rolling(**changes: Any) -> dict[str, Any]:
    """Stage 2/4 at 25%, judged for 40 s of its minute, every gate passing."""
    status: dict[str, Any] = {
        "phase": "Progressing",
        "message": "stage 2/4: Pass, 20s left",
        "observedGeneration": 2,
        "stage": "2/4",
        "stageIndex": 1,
        "candidateWeight": 25,
        "stableVersion": "v1",
        "candidateVersion": "v2",
        "stable": V1,
        "candidate": V2,
        "deployedAt": stamp(6),
        "stageEnteredAt": stamp(8),
        "stageStartedAt": stamp(9),
        "window": {"startedAt": stamp(11, 20)},
        "lastCheckAt": stamp(11, 55),
        "failedChecks": 0,
        "gates": GATES_PASSING,
        "risk": {
            "passed": True,
            "message": "risk check passed: roc_auc 0.8311 vs stable 0.8249 "
            "(not worse by 0.0062, allowed 0)",
        },
        "history": ROLLOUT_HISTORY,
    }
    status.update(changes)
    return status


def training(
    name: str, phase: str, *, version: str | None = None, headline: str | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if version:
        status["modelVersion"] = version
    if headline:
        status["headline"] = headline
    return {
        "apiVersion": "modelrelease.dev/v1alpha1",
        "kind": "ModelTraining",
        "metadata": {
            "name": name,
            "namespace": "ml",
            "resourceVersion": "17",
            "creationTimestamp": stamp(0),
        },
        "spec": {"modelName": "loan-default"},
        "status": status,
    }


TRAININGS = {
    t["metadata"]["name"]: t
    for t in (
        training("loan-default-v0", "Succeeded", version="v0", headline="roc_auc=0.8102"),
        training("loan-default-v1", "Succeeded", version="v1", headline="roc_auc=0.8249"),
        training("loan-default-v2", "Succeeded", version="v2", headline="roc_auc=0.8311"),
        training("loan-default-v3", "Running"),
    )
}
