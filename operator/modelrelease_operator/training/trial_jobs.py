"""The Job of one tuning trial: the training's own Job (jobs.render_job) with the trial's
parameters merged into the hyperparameters, its own name, label and artifact folder.

Built on render_job rather than beside it, so that whatever the training Job gains
(placement, security, failure policy) every trial gets too.
"""

from __future__ import annotations

import json
from typing import Any

from .. import labels
from ..api import GROUP
from ..api.training import ModelTrainingSpec
from .jobs import GpuPlacement, TrainingRef, artifact_location, render_job, trainer_config

#: On a trial's Job and pod: the trial's number.
TRIAL_LABEL = f"{GROUP}/trial"
CONFIG_ENV = "MODELRELEASE_TRAINER_CONFIG"


def trial_job_name(training: str, number: int) -> str:
    """`<training>-trial-<n>`: derived from the number alone, so a create repeated after
    a restart finds the first one (409) instead of starting a second trial."""
    return labels.child_name(training, f"trial-{number}")


def trial_spec(spec: ModelTrainingSpec, params: dict[str, Any]) -> ModelTrainingSpec:
    """The training's spec as one trial trains it: the tuned values over the fixed ones."""
    return spec.model_copy(
        update={"hyperparameters": {**spec.hyperparameters, **params}, "tuning": None}
    )


def trial_artifact(spec: ModelTrainingSpec, training: str, number: int) -> tuple[str, str]:
    """(URI recorded in status, path the trainer writes to): a folder per trial under the
    training's, so trials never overwrite each other's model."""
    uri, path, _ = artifact_location(spec, training)
    return f"{uri}/trial-{number}", f"{path}/trial-{number}"


def render_trial_job(
    spec: ModelTrainingSpec,
    training: TrainingRef,
    number: int,
    params: dict[str, Any],
    gpu: GpuPlacement | None = None,
) -> dict[str, Any]:
    """The batch/v1 Job of trial `number`, owned by the ModelTraining."""
    merged = trial_spec(spec, params)
    job = render_job(merged, training, gpu)
    name = trial_job_name(training.name, number)
    job["metadata"]["name"] = name
    trial = {TRIAL_LABEL: str(number)}
    job["metadata"]["labels"] = {**job["metadata"]["labels"], **trial}
    template = job["spec"]["template"]
    template["metadata"]["labels"] = {**template["metadata"]["labels"], **trial}
    config = trainer_config(merged, training.name)
    uri, path = trial_artifact(spec, training.name, number)
    config["output"] = {**config["output"], "path": path, "uri": uri}
    rendered = json.dumps(config, sort_keys=True)
    for container in template["spec"]["containers"]:
        for variable in container.get("env") or []:
            if variable.get("name") == CONFIG_ENV:
                variable["value"] = rendered
    return job
