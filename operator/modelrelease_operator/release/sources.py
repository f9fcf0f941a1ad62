"""What a model source (spec.stable, spec.candidate) resolves to, and whether a version's
Deployment is ready: pure readings of objects the handler fetched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..api.release import ModelRef, ModelSource
from .seen import Resolution


def from_artifact(source: ModelSource) -> Resolution:
    """An artifact named by URI and digest: always deployable."""
    assert source.artifact_uri is not None and source.digest is not None
    ref = ModelRef(
        version=source.version or source.digest.removeprefix("sha256:")[:12],
        uri=source.artifact_uri,
        digest=source.digest,
        metrics=source.metrics,
    )
    return Resolution("Ready", ref, f"artifact {ref.uri}")


def from_training(source: ModelSource, training: Mapping[str, Any] | None) -> Resolution:
    """A `training:` source from its ModelTraining as read (None: it does not exist).

    Rejected and Failed are final (never a candidate); anything short of Succeeded with an
    artifact URI and digest is Waiting.
    """
    name = source.training
    assert name is not None
    if training is None:
        return Resolution("Missing", None, f"ModelTraining {name} not found")
    found = training.get("status") or {}
    phase = found.get("phase") or "Pending"
    if phase == "Rejected":
        return Resolution(
            "Rejected",
            None,
            f"ModelTraining {name} was Rejected (quality gate): it can never be "
            f"a candidate. {found.get('message', '')}".strip(),
        )
    if phase == "Failed":
        return Resolution("Failed", None, f"ModelTraining {name} Failed")
    artifact = found.get("artifact") or {}
    if phase != "Succeeded" or not artifact.get("uri") or not artifact.get("digest"):
        return Resolution("Waiting", None, f"waiting for ModelTraining {name} ({phase})")
    ref = ModelRef(
        version=source.version or found.get("modelVersion") or name,
        uri=artifact["uri"],
        digest=artifact["digest"],
        training=name,
        metrics=found.get("metrics"),
        reference=found.get("scoreReference"),
    )
    return Resolution("Ready", ref, f"ModelTraining {name}")


def deployment_ready(found: Mapping[str, Any] | None, desired: int) -> bool:
    """The Deployment has been told `desired` pods, and that many are ready and current
    (a missing Deployment is ready only for zero pods)."""
    if found is None:
        return desired == 0
    spec, state = found.get("spec") or {}, found.get("status") or {}
    meta = found.get("metadata") or {}
    if spec.get("replicas") != desired:
        return False
    if (state.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        return False
    return (state.get("readyReplicas") or 0) >= desired and (
        state.get("updatedReplicas") or 0
    ) >= desired
