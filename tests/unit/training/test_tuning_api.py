"""spec.tuning: its rules in Python and in the CRD, the names it may tune, and the Job
each trial runs in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from modelrelease_operator.api.tuning import TUNABLE, Tuning, choice_value
from modelrelease_operator.training.jobs import TrainingRef, render_job
from modelrelease_operator.training.trial_jobs import TRIAL_LABEL, render_trial_job
from pydantic import ValidationError

from .specs import make_spec
from .tuning_world import tuning_spec

CRD = Path(__file__).resolve().parents[3] / "crds" / "modelrelease.dev_modeltrainings.yaml"
GOOD = {"type": "float", "low": 0.1, "high": 0.5}


@pytest.mark.parametrize(
    ("tuning", "message"),
    [
        ({"parameters": {"eta": {"type": "float", "low": 0.5, "high": 0.1}}}, "low < high"),
        ({"parameters": {"eta": {"type": "int", "low": 1}}}, "low < high"),
        (
            {"parameters": {"eta": {"type": "float", "low": 0, "high": 1, "log": True}}},
            "log needs a float or int parameter with low > 0",
        ),
        ({"parameters": {"grow_policy": {"type": "categorical"}}}, "needs choices"),
        (
            {"parameters": {"grow_policy": {"type": "categorical", "choices": []}}},
            "needs choices",
        ),
        (
            {"parameters": {"eta": {**GOOD, "choices": ["a"]}}},
            "choices belong to categorical parameters only",
        ),
        ({"parameters": {"objective": GOOD}}, "only these can be tuned"),
        ({"parallelism": 9}, "parallelism must not exceed"),
        ({"trials": 501}, "trials"),
        ({"parameters": {}}, "parameters"),
        ({"objective": {"metric": "rmse"}}, "rmse, mae and r2 for regression"),
    ],
)
def test_invalid_tuning_is_refused_naming_the_field(tuning: dict[str, Any], message: str) -> None:
    settings = {"parameters": {"eta": GOOD}, "trials": 8, "objective": {"metric": "roc_auc"}}
    with pytest.raises(ValidationError, match=message):
        make_spec(tuning={**settings, **tuning})


def test_a_regression_objective_fits_a_regression_task() -> None:
    spec = make_spec(
        task="regression",
        qualityGate={"thresholds": []},
        tuning={"parameters": {"eta": GOOD}, "trials": 2, "objective": {"metric": "rmse"}},
    )
    assert spec.tuning is not None and not spec.tuning.objective.maximize()


def _rules(node: Any) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    if isinstance(node, dict):
        found += node.get("x-kubernetes-validations", [])
        for value in node.values():
            found += _rules(value)
    elif isinstance(node, list):
        for value in node:
            found += _rules(value)
    return found


def test_the_crd_holds_each_rule_python_checks() -> None:
    crd = yaml.safe_load(CRD.read_text())
    messages = {rule["message"] for rule in _rules(crd)}
    tuning_messages = {m for m in messages if m.startswith("spec.tuning")}
    assert len(tuning_messages) == 7, tuning_messages
    names_rule = next(r for r in _rules(crd) if "only these can be tuned" in r["message"])
    assert all(f"'{name}'" in names_rule["rule"] for name in TUNABLE)
    columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
    assert {"name": "Tuning", "type": "string", "jsonPath": ".status.tuning.progress"} in columns


def test_every_tunable_name_is_one_the_trainer_accepts() -> None:
    hyperparameters = pytest.importorskip("modelrelease_trainer.hyperparameters")
    rng = np.random.default_rng(1)
    x = rng.random((64, 3))
    sample = hyperparameters.tiny_sample(x, (x[:, 0] > 0.5).astype(float), ["q"] * 3)
    values = {"grow_policy": "lossguide", "max_bin": 16, "max_leaves": 4, "num_boost_round": 5}
    for name in TUNABLE:
        params = {**hyperparameters.defaults("binary", 2, "cpu", 1), name: values.get(name, 1)}
        booster, _, _ = hyperparameters.split_loop(params)
        hyperparameters.check_known(booster, sample)  # raises TrainerError if unknown


@pytest.mark.parametrize(
    ("choice", "value"),
    [("128", 128), ("0.5", 0.5), ("true", True), ("lossguide", "lossguide"), ("null", "null")],
)
def test_choices_that_read_as_numbers_or_booleans_become_them(choice: str, value: Any) -> None:
    assert choice_value(choice) == value
    assert type(choice_value(choice)) is type(value)


def test_int_bounds_round_inward() -> None:
    tuning = Tuning.model_validate(
        {
            "parameters": {"max_depth": {"type": "int", "low": 2.5, "high": 7.9}},
            "trials": 1,
            "objective": {"metric": "roc_auc"},
        }
    )
    assert tuning.parameters["max_depth"].int_bounds() == (3, 7)


def _config(job: dict[str, Any]) -> dict[str, Any]:
    [container] = job["spec"]["template"]["spec"]["containers"]
    [env] = [e for e in container["env"] if e["name"] == "MODELRELEASE_TRAINER_CONFIG"]
    config: dict[str, Any] = json.loads(env["value"])
    return config


def test_a_trial_job_is_the_training_job_with_the_trials_params_name_and_folder() -> None:
    spec = tuning_spec().model_copy(deep=True)
    spec.hyperparameters = {"max_depth": 4, "num_boost_round": 50}
    ref = TrainingRef("t1", "ns", "uid-1")
    params = {"max_depth": 7, "learning_rate": 0.05, "grow_policy": "lossguide"}
    job = render_trial_job(spec, ref, 3, params)
    plain = render_job(spec, ref)
    assert job["metadata"]["name"] == "t1-trial-3"
    assert job["metadata"]["ownerReferences"] == plain["metadata"]["ownerReferences"]
    assert job["metadata"]["labels"][TRIAL_LABEL] == "3"
    assert job["spec"]["template"]["metadata"]["labels"][TRIAL_LABEL] == "3"
    assert job["spec"]["template"]["metadata"]["labels"]["modelrelease.dev/training"] == "t1"
    config = _config(job)
    # The tuned value overrides the fixed one; the others stay.
    assert config["hyperparameters"] == {**params, "num_boost_round": 50}
    assert config["output"] == {
        "path": "/var/lib/modelrelease/artifacts/loan-default/t1/trial-3",
        "uri": "pvc://model-store/loan-default/t1/trial-3",
    }
    assert _config(plain)["output"]["uri"] == "pvc://model-store/loan-default/t1"
    # Everything else is the training's own Job.
    for key in ("backoffLimit", "activeDeadlineSeconds"):
        assert job["spec"][key] == plain["spec"][key]
    assert (
        job["spec"]["template"]["spec"]["securityContext"]
        == (plain["spec"]["template"]["spec"]["securityContext"])
    )
