"""The trainer's configuration: the parts of a ModelTraining's spec it needs, plus outputs.

The operator renders it into the Job as JSON; a person can instead pass a ModelTraining
manifest, so the same YAML that runs in the cluster runs as a plain process.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from .errors import TrainerError

DEFAULT_TERMINATION_LOG = "/dev/termination-log"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Split(_Model):
    train: float = 0.7
    validation: float = 0.15
    test: float = 0.15


class Dataset(_Model):
    uri: str
    format: Literal["auto", "csv", "parquet"] = "auto"
    label_column: str
    feature_columns: list[str] | None = None
    split: Split = Field(default_factory=Split)
    seed: int = 42
    stratify: bool = True
    categorical_columns: list[str] | None = None
    max_categories: int = Field(1024, ge=1)
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")


class Output(_Model):
    path: str = Field(description="Where to write the artifact: a folder or an fsspec URL.")
    uri: str | None = Field(None, description="The artifact's URI as reported; path if unset.")


class Distributed(_Model):
    """How this worker finds the others (docs/trainings.md#distributed-training); its
    rank comes from the environment."""

    workers: int = Field(ge=2, le=64)
    tracker_host: str = Field(description="Where rank 0's tracker is reachable.")
    tracker_port: int = Field(9091, ge=1, le=65535)
    bind_host: str = Field("0.0.0.0", description="The address rank 0's tracker listens on.")
    timeout_seconds: int = Field(600, ge=1)


class TrainerConfig(_Model):
    model_name: str
    version: str
    task: Literal["binary", "multiclass", "regression"]
    dataset: Dataset
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    device: Literal["cpu", "cuda"] = "cpu"
    output: Output
    termination_message_path: str = DEFAULT_TERMINATION_LOG
    distributed: Distributed | None = None


def from_resource(resource: dict[str, Any], output: str | None) -> TrainerConfig:
    """A config from a ModelTraining manifest (`kind: ModelTraining`)."""
    spec = resource.get("spec") or {}
    name = (resource.get("metadata") or {}).get("name", "local")
    gpu = int(((spec.get("resources") or {}).get("gpu")) or 0)
    return TrainerConfig.model_validate(
        {
            "modelName": spec.get("modelName", name),
            "version": spec.get("version") or name,
            "task": spec.get("task"),
            "dataset": spec.get("dataset"),
            "hyperparameters": spec.get("hyperparameters") or {},
            "device": "cuda" if gpu > 0 else "cpu",
            "output": {"path": output or f"./artifacts/{name}"},
        }
    )


def load(path: str | None, output: str | None, termination_log: str | None) -> TrainerConfig:
    """Read the config from a file (JSON, YAML or a ModelTraining) or the environment."""
    try:
        if path:
            document = yaml.safe_load(Path(path).read_text())
        elif os.environ.get("MODELRELEASE_TRAINER_CONFIG"):
            document = json.loads(os.environ["MODELRELEASE_TRAINER_CONFIG"])
        else:
            raise TrainerError(
                "no configuration: pass --config FILE or MODELRELEASE_TRAINER_CONFIG"
            )
    except OSError as error:
        raise TrainerError(f"config {path}: cannot read: {error.strerror}") from error
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise TrainerError(f"config: not valid JSON/YAML: {error}") from error
    if not isinstance(document, dict):
        raise TrainerError("config: expected a mapping at the top level")
    try:
        if document.get("kind") == "ModelTraining":
            config = from_resource(document, output)
        else:
            config = TrainerConfig.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        hint = document.get("terminationMessagePath")
        raise TrainerError(
            f"config: {where}: {first['msg']}",
            termination_message_path=hint if isinstance(hint, str) else None,
        ) from error
    if output:
        config.output = Output(path=output)
    if termination_log:
        config.termination_message_path = termination_log
    return config
