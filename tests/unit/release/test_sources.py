"""What a model source resolves to, and when a Deployment counts as ready: tables."""

from __future__ import annotations

from typing import Any

import pytest
from modelrelease_operator.api.release import ModelSource
from modelrelease_operator.release.sources import deployment_ready, from_artifact, from_training

DIGEST = "sha256:" + "ab" * 32
FOLLOWED = ModelSource(training="loan-v2")


def training(phase: str | None, **status: Any) -> dict[str, Any]:
    found: dict[str, Any] = dict(status)
    if phase is not None:
        found["phase"] = phase
    return {"metadata": {"name": "loan-v2"}, "status": found}


DONE = {"artifact": {"uri": "s3://models/loan-v2", "digest": DIGEST}, "modelVersion": "2.0"}


@pytest.mark.parametrize(
    ("found", "state", "message"),
    [
        pytest.param(None, "Missing", "ModelTraining loan-v2 not found", id="missing"),
        pytest.param(
            training(None), "Waiting", "waiting for ModelTraining loan-v2 (Pending)", id="new"
        ),
        pytest.param(training("Running"), "Waiting", "(Running)", id="running"),
        pytest.param(
            training("Succeeded", artifact={"uri": "s3://m"}),
            "Waiting",
            "(Succeeded)",
            id="succeeded-without-digest",
        ),
        pytest.param(
            training("Rejected", message="roc_auc=0.61 misses >= 0.8"),
            "Rejected",
            "was Rejected (quality gate): it can never be a candidate. roc_auc=0.61 misses",
            id="rejected",
        ),
        pytest.param(training("Failed"), "Failed", "ModelTraining loan-v2 Failed", id="failed"),
        pytest.param(training("Succeeded", **DONE), "Ready", "ModelTraining loan-v2", id="ready"),
    ],
)
def test_a_training_source(found: dict[str, Any] | None, state: str, message: str) -> None:
    resolution = from_training(FOLLOWED, found)
    assert resolution.state == state and message in resolution.message
    assert (resolution.ref is not None) == (state == "Ready")


def test_a_ready_training_brings_its_version_metrics_and_reference() -> None:
    reference = {"edges": [0.5], "counts": [3.0, 4.0]}
    found = training("Succeeded", **DONE, metrics={"roc_auc": 0.86}, scoreReference=reference)
    ref = from_training(FOLLOWED, found).ref
    assert ref is not None and ref.version == "2.0" and ref.training == "loan-v2"
    assert ref.metrics == {"roc_auc": 0.86} and ref.reference is not None
    named = from_training(ModelSource(training="loan-v2", version="v2"), found).ref
    assert named is not None and named.version == "v2"  # spec.version wins
    plain = from_training(FOLLOWED, training("Succeeded", artifact=DONE["artifact"])).ref
    assert plain is not None and plain.version == "loan-v2"  # else the training's name


def test_an_artifact_source_is_ready_and_versioned_by_digest_when_unnamed() -> None:
    source = ModelSource(artifactUri="s3://m/v3", digest=DIGEST, version="v3")
    ready = from_artifact(source)
    assert ready.state == "Ready" and ready.ref is not None and ready.ref.version == "v3"


def deployment(
    replicas: int, ready: int, updated: int, generation: int = 2, seen: int = 2
) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": seen, "readyReplicas": ready, "updatedReplicas": updated},
    }


@pytest.mark.parametrize(
    ("found", "desired", "ready"),
    [
        pytest.param(None, 0, True, id="absent-and-none-wanted"),
        pytest.param(None, 2, False, id="absent"),
        pytest.param(deployment(2, 2, 2), 2, True, id="ready"),
        pytest.param(deployment(2, 2, 2), 3, False, id="not-yet-told-the-new-count"),
        pytest.param(deployment(3, 2, 3), 3, False, id="one-pod-not-ready"),
        pytest.param(deployment(3, 3, 2), 3, False, id="old-pods-still-counted"),
        pytest.param(deployment(3, 3, 3, generation=3, seen=2), 3, False, id="change-not-seen"),
    ],
)
def test_when_a_deployment_is_ready(
    found: dict[str, Any] | None, desired: int, ready: bool
) -> None:
    assert deployment_ready(found, desired) is ready
