"""spec.dataset's pin and column rules at the real API server, and the training Job with
its podFailurePolicy as the API server validates it (no operator needed)."""

from __future__ import annotations

import json
from typing import Any

import kubernetes
import pytest
from modelrelease_operator.api.training import ModelTrainingSpec
from modelrelease_operator.training.jobs import TrainingRef, render_job

from .trainings import cpu_training

GROUP, VERSION, PLURAL = "modelrelease.dev", "v1alpha1", "modeltrainings"
PIN = "0123456789abcdef" * 4


def create(api: kubernetes.client.ApiClient, namespace: str, manifest: dict[str, Any]) -> Any:
    return kubernetes.client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, manifest
    )


@pytest.mark.parametrize(
    ("dataset", "field"),
    [
        pytest.param({"sha256": PIN.upper()}, "spec.dataset.sha256", id="uppercase-pin"),
        pytest.param({"sha256": "sha256:" + PIN[7:]}, "spec.dataset.sha256", id="prefixed-pin"),
        pytest.param({"maxCategories": 0}, "spec.dataset.maxCategories", id="no-categories"),
        pytest.param(
            {"categoricalColumns": [f"c{i}" for i in range(1025)]},
            "spec.dataset.categoricalColumns",
            id="too-many-categoricals",
        ),
    ],
)
def test_bad_dataset_fields_are_refused_naming_the_field(
    kube_api: kubernetes.client.ApiClient,
    installed: list[dict[str, Any]],
    namespace: str,
    dataset: dict[str, Any],
    field: str,
) -> None:
    manifest = cpu_training("pinned")
    manifest["spec"]["dataset"].update(dataset)
    with pytest.raises(kubernetes.client.ApiException) as refused:
        create(kube_api, namespace, manifest)
    assert refused.value.status == 422
    assert field in json.loads(refused.value.body or "{}")["message"]


def test_a_pinned_training_is_admitted_and_its_job_validates(
    kube_api: kubernetes.client.ApiClient, installed: list[dict[str, Any]], namespace: str
) -> None:
    manifest = cpu_training("pinned")
    manifest["spec"]["dataset"].update(sha256=PIN, categoricalColumns=["purpose"], maxCategories=16)
    made = create(kube_api, namespace, manifest)
    assert made["spec"]["dataset"]["sha256"] == PIN
    spec = ModelTrainingSpec.model_validate(made["spec"])
    job = render_job(spec, TrainingRef("pinned", namespace, made["metadata"]["uid"]))
    # The API server checks the policy against the pod: restartPolicy Never, the
    # container's name, the operator and exit codes.
    admitted: Any = kubernetes.client.BatchV1Api(kube_api).create_namespaced_job(
        namespace, job, dry_run="All", _preload_content=False
    )
    # As stored: the rendering leaves nothing for the API server to default or drop.
    assert json.loads(admitted.data)["spec"]["podFailurePolicy"] == job["spec"]["podFailurePolicy"]
