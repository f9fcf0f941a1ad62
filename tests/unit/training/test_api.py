"""The ModelTraining model: bounds on what a spec may carry, and the CRD's rules mirrored
in Python (so that a retraining template is checked before anything is created)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from modelrelease_operator.api.training import ModelTrainingSpec
from pydantic import ValidationError

from .specs import make_spec

EXAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "examples"
LONG = "a" * 5000


@pytest.mark.parametrize(
    "uri",
    [
        "pvc://model-store/../other",
        "pvc://model-store/models/../../etc",
        "pvc://model-store/..",
        "pvc://Model_Store/models",
        "pvc://" + "a" * 64 + "/models",
    ],
)
def test_pvc_artifacts_stay_inside_their_claim(uri: str) -> None:
    with pytest.raises(ValidationError, match=r"spec\.artifacts\.uri: .*pvc://"):
        make_spec(artifacts={"uri": uri})


def test_pvc_paths_may_hold_dots_inside_names() -> None:
    spec = make_spec(artifacts={"uri": "pvc://model-store/a..b/..c/v.2"})
    assert spec.artifacts.uri.endswith("v.2")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"artifacts": {"uri": "file:///models"}}, "must start with pvc://"),
        ({"artifacts": {"uri": "s3://models/x"}}, "credentialsSecret is required"),
        ({"qualityGate": {"thresholds": [{"metric": "roc_auc"}]}}, "needs min or max"),
        ({"qualityGate": {"thresholds": [{"metric": "rmse", "max": 1}]}}, "regression only"),
        (
            {"task": "regression", "qualityGate": {"thresholds": [{"metric": "f1", "min": 1}]}},
            "rmse, mae and r2 only",
        ),
        (
            {
                "dataset": {
                    "uri": "builtin:loan-default",
                    "labelColumn": "default",
                    "split": {"train": 0.5, "validation": 0.2, "test": 0.2},
                }
            },
            "must add up to 1",
        ),
    ],
)
def test_the_crds_rules_hold_in_python_too(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_spec(**change)


DATASET = {"uri": "builtin:loan-default", "labelColumn": "default"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"image": ""}, "image"),
        ({"image": "trainer:0.1 "}, "image"),
        ({"image": "registry.example.com/" + LONG}, "image"),
        ({"version": "v 2"}, "version"),
        ({"version": "v" * 64}, "version"),
        ({"dataset": {**DATASET, "uri": "s3://d/" + LONG}}, "uri"),
        ({"dataset": {**DATASET, "labelColumn": LONG}}, "labelColumn"),
        ({"dataset": {**DATASET, "featureColumns": [f"c{i}" for i in range(1025)]}}, "feature"),
        ({"dataset": {**DATASET, "featureColumns": [LONG]}}, "feature"),
        ({"dataset": {**DATASET, "seed": 2**32}}, "seed"),
        ({"artifacts": {"uri": "pvc://model-store/" + LONG}}, "uri"),
        ({"hyperparameters": {f"p{i}": 1 for i in range(65)}}, "hyperparameters"),
        ({"nodeSelector": {"pool": "a b"}}, "nodeSelector"),
        ({"nodeSelector": {"-pool": "a"}}, r"spec\.nodeSelector: keys"),
        ({"podAnnotations": {"a": LONG}}, "podAnnotations"),
        ({"podAnnotations": {f"a{i}": "" for i in range(33)}}, "podAnnotations"),
        ({"priorityClassName": "High Priority"}, "priorityClassName"),
        ({"serviceAccountName": "a" * 254}, "serviceAccountName"),
        ({"resources": {"cpu": "2", "cpuLimit": "1"}}, r"spec\.resources\.cpuLimit: must be"),
        ({"resources": {"memory": "2Gi", "memoryLimit": "2G"}}, "memoryLimit"),
        ({"tolerations": [{"operator": "Equal", "value": "x"}]}, "without a key"),
        ({"tolerations": [{"key": "k", "operator": "Exists", "value": "x"}]}, "value must be"),
        ({"tolerations": [{"key": "k", "tolerationSeconds": 5}]}, "NoExecute"),
        ({"tolerations": [{"key": "bad key"}]}, r"spec\.tolerations: keys"),
        ({"tolerations": [{"key": "k", "value": "a b"}]}, "value"),
        ({"tolerations": [{"key": f"k{i}"} for i in range(33)]}, "tolerations"),
        ({"job": {"ttlSecondsAfterFinished": 2**31}}, "ttlSecondsAfterFinished"),
    ],
)
def test_strings_lists_and_maps_are_bounded(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        make_spec(**change)


def test_bounds_leave_room_for_real_trainings() -> None:
    spec = make_spec(
        image="registry.example.com:5000/ml/trainer-cuda@sha256:" + "0" * 64,
        version="2026.11.27-rc_1",
        nodeSelector={"node.kubernetes.io/instance-type": "g5.xlarge", "spot": ""},
        tolerations=[
            {"operator": "Exists"},
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "spot", "value": "true", "effect": "NoExecute", "tolerationSeconds": 60},
        ],
        podAnnotations={"kwok.modelrelease.dev/termination-message": "x" * 4096},
        resources={"cpu": "1500m", "cpuLimit": "2", "memory": "1536Mi", "memoryLimit": "2Gi"},
        priorityClassName="batch.low",
    )
    assert spec.resources.cpu_limit == "2"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("training-*.yaml")))
def test_the_examples_are_valid(path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        if document and document.get("kind") == "ModelTraining":
            assert isinstance(ModelTrainingSpec.model_validate(document["spec"]), ModelTrainingSpec)
