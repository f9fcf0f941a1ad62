"""spec.dataset's pin and column rules reach the trainer, and the Job does not retry what
a retry cannot fix: the trainer's data error exit code fails it at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from modelrelease_operator.training.jobs import (
    DATA_ERROR_EXIT_CODE,
    TrainingRef,
    render_job,
    trainer_config,
)
from modelrelease_trainer import cli
from modelrelease_trainer.config import TrainerConfig
from pydantic import ValidationError

from .specs import make_spec

REF = TrainingRef(name="loan-default-v1", namespace="ml", uid="0000-1111")
PIN = "0123456789abcdef" * 4


def dataset(**fields: Any) -> dict[str, Any]:
    return {"uri": "s3://data/loans.csv", "labelColumn": "default", **fields}


def test_a_data_error_fails_the_job_and_disruptions_do_not_count() -> None:
    job = render_job(make_spec(), REF)
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"  # podFailurePolicy requires it
    trainer = pod["containers"][0]["name"]
    assert job["spec"]["podFailurePolicy"] == {
        "rules": [
            {
                "action": "FailJob",
                "onExitCodes": {"containerName": trainer, "operator": "In", "values": [2]},
            },
            {
                "action": "Ignore",
                "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
            },
        ]
    }


def test_the_policys_exit_code_is_the_one_the_trainer_exits_with_on_bad_data(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"modelName": "m", "task": "binary"}))
    code = cli.main(["--config", str(config), "--termination-log", str(tmp_path / "log")])
    assert code == DATA_ERROR_EXIT_CODE == 2


def test_rendered_jobs_do_not_share_the_policy() -> None:
    first = render_job(make_spec(), REF)
    first["spec"]["podFailurePolicy"]["rules"].clear()
    assert len(render_job(make_spec(), REF)["spec"]["podFailurePolicy"]["rules"]) == 2


def test_the_pin_and_column_rules_reach_the_trainer() -> None:
    spec = make_spec(
        dataset=dataset(categoricalColumns=["purpose"], maxCategories=50, sha256=PIN),
        artifacts={"uri": "s3://models/loan", "credentialsSecret": "s3"},
    )
    rendered = trainer_config(spec, "t1")["dataset"]
    assert rendered["categoricalColumns"] == ["purpose"]
    assert rendered["maxCategories"] == 50 and rendered["sha256"] == PIN
    read = TrainerConfig.model_validate(trainer_config(spec, "t1")).dataset
    assert (read.categorical_columns, read.max_categories, read.sha256) == (["purpose"], 50, PIN)


def test_unset_the_trainer_gets_its_defaults() -> None:
    rendered = trainer_config(make_spec(), "t1")["dataset"]
    assert "sha256" not in rendered and "categoricalColumns" not in rendered
    assert rendered["maxCategories"] == 1024


@pytest.mark.parametrize(
    "pin",
    [
        pytest.param(PIN.upper(), id="uppercase"),
        pytest.param(PIN[:-1], id="short"),
        pytest.param(PIN + "0", id="long"),
        pytest.param("sha256:" + PIN[7:], id="prefixed"),
        pytest.param(PIN[:-1] + "g", id="not-hex"),
    ],
)
def test_a_pin_is_64_lowercase_hex_digits(pin: str) -> None:
    with pytest.raises(ValidationError, match=r"dataset\.sha256"):
        make_spec(dataset=dataset(sha256=pin))


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"maxCategories": 0}, "maxCategories"),
        ({"maxCategories": 65537}, "maxCategories"),
        ({"categoricalColumns": [f"c{i}" for i in range(1025)]}, "categoricalColumns"),
        ({"categoricalColumns": ["x" * 257]}, "categoricalColumns"),
        ({"categoricalColumns": [""]}, "categoricalColumns"),
    ],
)
def test_column_rules_are_bounded(fields: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError, match=where):
        make_spec(dataset=dataset(**fields))
