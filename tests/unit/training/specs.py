"""ModelTraining specs for tests: a valid one, with fields overridden."""

from __future__ import annotations

from typing import Any

from modelrelease_operator.api.training import ModelTrainingSpec


def make_spec(**overrides: Any) -> ModelTrainingSpec:
    document: dict[str, Any] = {
        "modelName": "loan-default",
        "task": "binary",
        "dataset": {"uri": "builtin:loan-default?rows=2000&seed=1", "labelColumn": "default"},
        "artifacts": {"uri": "pvc://model-store/loan-default"},
        "qualityGate": {"thresholds": [{"metric": "roc_auc", "min": 0.8}]},
    }
    document.update(overrides)
    return ModelTrainingSpec.model_validate(document)
