"""Every object the operator renders is valid for a pinned Kubernetes release."""

from __future__ import annotations

import kubernetes_validate
import pytest
from modelrelease_operator.training.jobs import TrainingRef, render_job

from tests.unit.training.specs import make_spec

KUBERNETES = "1.36.0"
REF = TrainingRef(name="loan-default-v1", namespace="ml", uid="0000-1111")


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="cpu"),
        pytest.param({"resources": {"gpu": 1, "cpu": "4", "memory": "16Gi"}}, id="gpu"),
        pytest.param(
            {
                "artifacts": {"uri": "s3://bucket/models", "credentialsSecret": "s3"},
                "tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}],
                "priorityClassName": "batch",
                "serviceAccountName": "trainer",
                "job": {"ttlSecondsAfterFinished": 600},
            },
            id="object-store",
        ),
    ],
)
def test_training_job_is_a_valid_batch_v1_job(overrides: dict[str, object]) -> None:
    job = render_job(make_spec(**overrides), REF)
    kubernetes_validate.validate(job, KUBERNETES, strict=True)
