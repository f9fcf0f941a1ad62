"""The ModelTraining state machine, one observation at a time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from modelrelease_operator.api.training import ModelTrainingStatus
from modelrelease_operator.training.decide import Observation, decide
from modelrelease_operator.training.gates import Baseline

from .specs import make_spec

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SUMMARY = {
    "metrics": {"roc_auc": 0.86, "log_loss": 0.28, "confusion_matrix": [[90, 3], [7, 10]]},
    "artifactUri": "pvc://model-store/loan-default/t1",
    "digest": "sha256:" + "ab" * 32,
    "modelVersion": "t1",
    "scoreReference": {"edges": [0.0, 0.5, 1.0], "counts": [10, 60, 40, 0]},
}


def job(*conditions: str, start: str | None = "2026-11-23T09:59:00Z") -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [
            {"type": c, "status": "True", "reason": c, "message": f"job {c}"} for c in conditions
        ],
    }
    if start:
        status["startTime"] = start
    if "Complete" in conditions:
        status["completionTime"] = "2026-11-23T10:00:00Z"
    return {"metadata": {"name": "t1-train"}, "status": status}


def pod(
    phase: str, *, message: str | None = None, exit_code: int = 0, unschedulable: str | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if message is not None or phase in {"Succeeded", "Failed"}:
        terminated = {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error"}
        if message is not None:
            terminated["message"] = message
        status["containerStatuses"] = [{"name": "trainer", "state": {"terminated": terminated}}]
    if unschedulable:
        status["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": unschedulable,
            }
        ]
    return {
        "metadata": {"name": "t1-train-abcde", "creationTimestamp": "2026-11-23T09:59:00Z"},
        "spec": {"nodeName": "cpu-1"} if phase == "Running" else {},
        "status": status,
    }


def run(
    status: ModelTrainingStatus, observed: Observation, spec: Any = None, now: datetime = NOW
) -> Any:
    return decide(spec or make_spec(), status, name="t1", generation=1, observed=observed, now=now)


def test_first_sight_creates_the_job_and_records_it() -> None:
    decision = run(ModelTrainingStatus(), Observation(job=None))
    assert decision.create_job
    assert decision.status.job_name == "t1-train"
    assert decision.status.phase == "Pending"
    assert decision.status.observed_generation == 1
    assert [e.reason for e in decision.events] == ["JobCreated"]


def test_existing_job_is_adopted_not_created_again() -> None:
    # The operator may have died between creating the Job and writing status.
    decision = run(ModelTrainingStatus(), Observation(job=job()))
    assert not decision.create_job
    assert decision.status.job_name == "t1-train"


def test_running_pod_sets_running_once() -> None:
    first = run(
        ModelTrainingStatus(phase="Pending", job_name="t1-train"),
        Observation(job=job(), pods=[pod("Running")]),
    )
    assert first.status.phase == "Running" and first.status.start_time == "2026-11-23T09:59:00Z"
    assert [e.reason for e in first.events] == ["Running"]
    again = run(first.status, Observation(job=job(), pods=[pod("Running")]))
    assert again.events == [] and again.status == first.status


def test_unschedulable_pod_says_why() -> None:
    why = "0/3 nodes are available: 1 Insufficient nvidia.com/gpu."
    decision = run(
        ModelTrainingStatus(job_name="t1-train"),
        Observation(job=job(start=None), pods=[pod("Pending", unschedulable=why)]),
    )
    assert decision.status.phase == "Pending"
    assert why in decision.status.message
    scheduled = next(c for c in decision.status.conditions if c.type == "Scheduled")
    assert (scheduled.status, scheduled.reason) == ("False", "Unschedulable")


def test_success_records_metrics_artifact_digest_and_passes_the_gate() -> None:
    decision = run(
        ModelTrainingStatus(phase="Running", job_name="t1-train"),
        Observation(job=job("Complete"), pods=[pod("Succeeded", message=json.dumps(SUMMARY))]),
    )
    status = decision.status
    assert status.phase == "Succeeded"
    assert status.metrics == SUMMARY["metrics"]
    assert status.artifact is not None and status.artifact.digest == SUMMARY["digest"]
    assert status.artifact.uri == SUMMARY["artifactUri"]
    assert status.headline == "roc_auc=0.8600"
    assert status.score_reference is not None
    assert status.score_reference.counts == [10, 60, 40, 0]
    assert status.completion_time == "2026-11-23T10:00:00Z"
    assert status.gate is not None and all(r.passed for r in status.gate)
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert ready.status == "True"


def test_gate_miss_rejects_with_the_reason_per_threshold() -> None:
    spec = make_spec(
        qualityGate={
            "thresholds": [{"metric": "roc_auc", "min": 0.9}, {"metric": "log_loss", "max": 0.5}]
        }
    )
    decision = run(
        ModelTrainingStatus(phase="Running", job_name="t1-train"),
        Observation(job=job("Complete"), pods=[pod("Succeeded", message=json.dumps(SUMMARY))]),
        spec,
    )
    assert decision.status.phase == "Rejected"
    assert "roc_auc=0.86 misses >= 0.9" in decision.status.message
    assert [r.passed for r in decision.status.gate or []] == [False, True]
    assert decision.events[-1].type == "Warning"


def test_must_beat_uses_the_baseline() -> None:
    spec = make_spec(qualityGate={"mustBeat": {"release": "loan", "margin": 0.01}})
    observed = Observation(
        job=job("Complete"),
        pods=[pod("Succeeded", message=json.dumps(SUMMARY))],
        baseline=Baseline(True, "t0", {"roc_auc": 0.855}),
    )
    assert run(ModelTrainingStatus(job_name="t1-train"), observed, spec).status.phase == "Rejected"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            json.dumps({"error": "dataset: label column 'y' not found"}),
            "dataset: label column 'y' not found (exit code 2, Error)",
            id="trainer-error",
        ),
        pytest.param("Traceback: boom", "Traceback: boom (exit code 2, Error)", id="raw-log"),
        pytest.param(None, "exit code 2, Error", id="no-message"),
    ],
)
def test_failure_records_the_pods_reason(message: str | None, expected: str) -> None:
    decision = run(
        ModelTrainingStatus(phase="Running", job_name="t1-train"),
        Observation(job=job("Failed"), pods=[pod("Failed", message=message, exit_code=2)]),
    )
    assert decision.status.phase == "Failed"
    assert decision.status.message == f"training failed: {expected}"


def test_failure_without_pods_uses_the_job_condition() -> None:
    decision = run(
        ModelTrainingStatus(phase="Running", job_name="t1-train"), Observation(job=job("Failed"))
    )
    assert decision.status.message == "training failed: Failed: job Failed"


def test_a_malformed_score_reference_is_left_out_not_fatal() -> None:
    summary = {**SUMMARY, "scoreReference": {"edges": "not a list"}}
    decision = run(
        ModelTrainingStatus(job_name="t1-train"),
        Observation(job=job("Complete"), pods=[pod("Succeeded", message=json.dumps(summary))]),
    )
    assert decision.status.phase == "Succeeded" and decision.status.score_reference is None


def test_success_without_a_readable_summary_fails_clearly() -> None:
    decision = run(
        ModelTrainingStatus(job_name="t1-train"),
        Observation(job=job("Complete"), pods=[pod("Succeeded", message="not json")]),
    )
    assert decision.status.phase == "Failed"
    assert decision.status.message == "the termination message is not JSON"


def test_job_that_vanished_mid_training_fails() -> None:
    decision = run(ModelTrainingStatus(phase="Running", job_name="t1-train"), Observation(job=None))
    assert not decision.create_job
    assert decision.status.phase == "Failed" and "disappeared" in decision.status.message


def test_terminal_phases_are_final() -> None:
    done = ModelTrainingStatus(phase="Succeeded", job_name="t1-train")
    decision = run(done, Observation(job=None), now=NOW + timedelta(days=2))
    assert (
        not decision.create_job and decision.events == [] and decision.status.phase == "Succeeded"
    )


def test_condition_transition_time_moves_only_on_change() -> None:
    first = run(ModelTrainingStatus(), Observation(job=None))
    later = run(
        first.status, Observation(job=job(), pods=[pod("Running")]), now=NOW + timedelta(minutes=5)
    )
    created = next(c for c in later.status.conditions if c.type == "JobCreated")
    assert created.last_transition_time == "2026-11-23T10:00:00Z"
