"""ModelTraining: train a model in a Job, evaluate it, and gate it on its metrics."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from .bounds import (
    IMAGE,
    IMAGE_LENGTH,
    KEY_LENGTH,
    NAME_LENGTH,
    URI_LENGTH,
    AnnotationMap,
    DnsSubdomain,
    LabelMap,
    LabelValue,
    Quantity,
    check_limit,
    check_pvc,
    limit_message,
    limit_rule,
    pvc_rules,
    qualified_name_cel,
    qualified_name_message,
    qualified_name_ok,
)
from .common import ApiModel, Condition, ScoreReference, cel, preserve_unknown
from .crdgen import CrdInfo
from .dataset import Dataset
from .tuning import OBJECTIVE_RULE, Tuning, TuningStatus, check_objective
from .workers import WORKERS_FIELD, WORKERS_RULES, check_workers

Task = Literal["binary", "multiclass", "regression"]
TrainingPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Rejected"]

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: A version label (it becomes the value of labels on the Job and the Deployments).
VERSION_LABEL = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"

#: Metrics a quality gate can name; the trainer computes these (docs/artifacts.md).
GATE_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
    "rmse",
    "mae",
    "r2",
)
#: Metrics where a lower value is better; a `mustBeat` margin is read accordingly.
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})


class Resources(ApiModel):
    """Compute for the training pod; requests equal limits unless limits are set."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            limit_rule("cpu", "cpuLimit", "spec.resources"),
            limit_rule("memory", "memoryLimit", "spec.resources"),
        )
    }

    cpu: Quantity = "1"
    memory: Quantity = "2Gi"
    gpu: int = Field(0, ge=0, le=16, description="nvidia.com/gpu count; > 0 trains on CUDA.")
    cpu_limit: Quantity | None = None
    memory_limit: Quantity | None = None

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> Resources:
        check_limit(self.cpu, self.cpu_limit, limit_message("cpu", "cpuLimit", "spec.resources"))
        check_limit(
            self.memory,
            self.memory_limit,
            limit_message("memory", "memoryLimit", "spec.resources"),
        )
        return self


_TOLERATION_RULES = (
    (
        "has(self.key) || (has(self.operator) && self.operator == 'Exists')",
        "spec.tolerations: without a key the operator must be Exists",
    ),
    (
        "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
        "spec.tolerations: value must be empty when operator is Exists",
    ),
    (
        "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
        "spec.tolerations: tolerationSeconds needs effect NoExecute",
    ),
)


class Toleration(ApiModel):
    """A core/v1 Toleration, held to the rules the API server checks in a pod."""

    model_config = ApiModel.model_config | {"json_schema_extra": cel(*_TOLERATION_RULES)}

    key: str | None = Field(
        None,
        max_length=KEY_LENGTH,
        json_schema_extra=cel(
            (qualified_name_cel("self"), qualified_name_message("spec.tolerations"))
        ),
    )
    operator: Literal["Exists", "Equal"] | None = None
    value: LabelValue | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None

    @field_validator("key")
    @classmethod
    def _qualified(cls, key: str | None) -> str | None:
        if key is not None and not qualified_name_ok(key):
            raise ValueError(qualified_name_message("spec.tolerations"))
        return key

    @model_validator(mode="after")
    def _consistent(self) -> Toleration:
        if self.key is None and self.operator != "Exists":
            raise ValueError(_TOLERATION_RULES[0][1])
        if self.operator == "Exists" and self.value:
            raise ValueError(_TOLERATION_RULES[1][1])
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError(_TOLERATION_RULES[2][1])
        return self


class Artifacts(ApiModel):
    """Where the trained model goes: pvc://CLAIM/PATH, or an object store."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "self.uri.startsWith('pvc://') || self.uri.startsWith('s3://') || "
                "self.uri.startsWith('gs://') || self.uri.startsWith('az://')",
                "spec.artifacts.uri must start with pvc://, s3://, gs:// or az://",
            ),
            (
                "self.uri.startsWith('pvc://') || has(self.credentialsSecret)",
                "spec.artifacts.credentialsSecret is required for an object store URI",
            ),
        )
    }

    uri: Annotated[
        str,
        Field(
            min_length=1,
            max_length=URI_LENGTH,
            json_schema_extra=cel(*pvc_rules("spec.artifacts.uri")),
        ),
        AfterValidator(lambda uri: check_pvc("spec.artifacts.uri", uri)),
    ] = Field(
        description="pvc://CLAIM/PATH (mounted into the Job; no '..' segments) or s3://, gs://, "
        "az:// URI. Each training writes to <uri>/<training name>.",
    )
    credentials_secret: str | None = Field(
        None,
        pattern=DNS_LABEL,
        max_length=NAME_LENGTH,
        description="A Secret whose keys become the trainer's environment (object stores).",
    )

    @model_validator(mode="after")
    def _store(self) -> Artifacts:
        if not self.uri.startswith(("pvc://", "s3://", "gs://", "az://")):
            raise ValueError("spec.artifacts.uri must start with pvc://, s3://, gs:// or az://")
        if not self.uri.startswith("pvc://") and self.credentials_secret is None:
            raise ValueError("spec.artifacts.credentialsSecret is required for an object store URI")
        return self


class Threshold(ApiModel):
    """One bound on a test metric."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "has(self.min) || has(self.max)",
                "spec.qualityGate.thresholds: each threshold needs min or max",
            )
        )
    }

    metric: Literal[GATE_METRICS] = Field(description="A metric from metrics.json.")  # type: ignore[valid-type]
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError("spec.qualityGate.thresholds: each threshold needs min or max")
        return self


class MustBeat(ApiModel):
    """Compare with the model that a ModelRelease currently serves as stable."""

    release: str = Field(
        pattern=DNS_LABEL, max_length=NAME_LENGTH, description="A ModelRelease in this namespace."
    )
    metric: Literal[GATE_METRICS] = "roc_auc"  # type: ignore[valid-type]
    margin: float = Field(
        0.0,
        ge=0,
        description="How much better than stable the candidate must be (in the metric's units).",
    )


class QualityGate(ApiModel):
    """What a trained model must reach to be usable as a release candidate."""

    thresholds: list[Threshold] = Field(default_factory=list, max_length=16)
    must_beat: MustBeat | None = None


class JobLimits(ApiModel):
    """Bounds on the training Job."""

    backoff_limit: int = Field(1, ge=0, le=10)
    active_deadline_seconds: int = Field(3600, ge=60)
    ttl_seconds_after_finished: int | None = Field(
        None,
        ge=0,
        le=365 * 24 * 3600,
        description="Delete the finished Job after this long; the results stay in status.",
    )


class ModelTrainingSpec(ApiModel):
    """What to train, on what, with what, and what it must reach."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            ("self == oldSelf", "spec is immutable: create a new ModelTraining to retrain"),
            (
                "self.task == 'regression' || !has(self.qualityGate) || "
                "!has(self.qualityGate.thresholds) || "
                "self.qualityGate.thresholds.all(t, !(t.metric in ['rmse', 'mae', 'r2']))",
                "spec.qualityGate.thresholds: rmse, mae and r2 apply to regression only",
            ),
            (
                "self.task != 'regression' || !has(self.qualityGate) || "
                "!has(self.qualityGate.thresholds) || "
                "self.qualityGate.thresholds.all(t, t.metric in ['rmse', 'mae', 'r2'])",
                "spec.qualityGate.thresholds: a regression gate can use rmse, mae and r2 only",
            ),
            (
                "!has(self.resources) || self.resources.gpu == 0 || self.image != ''",
                "spec.image: a GPU training needs an image (one built with CUDA support)",
            ),
            OBJECTIVE_RULE,
            *WORKERS_RULES,
        )
    }

    model_name: str = Field(pattern=DNS_LABEL, max_length=63, description="The logical model.")
    version: str | None = Field(
        None,
        max_length=63,
        pattern=VERSION_LABEL,
        description="Version label of the result; the training's name if unset.",
    )
    task: Task
    framework: Literal["xgboost"] = "xgboost"
    image: str = Field(
        "ghcr.io/modelrelease/trainer:0.1.0",
        min_length=1,
        max_length=IMAGE_LENGTH,
        pattern=IMAGE,
        description="The training image.",
    )
    dataset: Dataset
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict,
        max_length=64,
        json_schema_extra=preserve_unknown(),
        description="XGBoost parameters (max_depth, eta, ...) plus num_boost_round and "
        "early_stopping_rounds.",
    )
    resources: Resources = Field(default_factory=Resources)
    workers: int = WORKERS_FIELD
    node_selector: LabelMap("spec.nodeSelector") = Field(default_factory=dict)  # type: ignore[valid-type]
    tolerations: list[Toleration] = Field(default_factory=list, max_length=32)
    priority_class_name: DnsSubdomain | None = None
    service_account_name: DnsSubdomain | None = None
    pod_annotations: AnnotationMap("spec.podAnnotations") = Field(  # type: ignore[valid-type]
        default_factory=dict, description="Annotations for the training pod."
    )
    artifacts: Artifacts
    quality_gate: QualityGate = Field(default_factory=QualityGate)
    job: JobLimits = Field(default_factory=JobLimits)
    tuning: Tuning | None = Field(
        None, description="A hyperparameter search: one Job per trial (docs/trainings.md)."
    )

    @model_validator(mode="after")
    def _gate_fits_the_task(self) -> ModelTrainingSpec:
        # The same rules as the CEL above, for specs built in Python (retraining templates).
        regression = {"rmse", "mae", "r2"}
        metrics = {t.metric for t in self.quality_gate.thresholds}
        if self.task != "regression" and metrics & regression:
            raise ValueError(
                "spec.qualityGate.thresholds: rmse, mae and r2 apply to regression only"
            )
        if self.task == "regression" and metrics - regression:
            raise ValueError(
                "spec.qualityGate.thresholds: a regression gate can use rmse, mae and r2 only"
            )
        return self

    @model_validator(mode="after")
    def _objective_fits_the_task(self) -> ModelTrainingSpec:
        check_objective(self.task, self.tuning)
        return self

    @model_validator(mode="after")
    def _workers_fit(self) -> ModelTrainingSpec:
        check_workers(self.workers, self.resources.gpu, self.tuning)
        return self


class ArtifactRef(ApiModel):
    """A stored model and the digest of its model file."""

    uri: str
    digest: str


class GateResult(ApiModel):
    """One clause of the quality gate, as judged."""

    metric: str
    comparison: str
    threshold: float
    value: float | None = None
    passed: bool
    message: str


class ModelTrainingStatus(ApiModel):
    """What happened, as the operator last saw it."""

    phase: TrainingPhase = "Pending"
    message: str = ""
    observed_generation: int | None = None
    job_name: str | None = None
    start_time: str | None = None
    completion_time: str | None = None
    headline: str | None = Field(None, description="The headline metric, e.g. roc_auc=0.871.")
    metrics: dict[str, Any] | None = Field(None, json_schema_extra=preserve_unknown())
    artifact: ArtifactRef | None = None
    model_version: str | None = None
    gate: list[GateResult] | None = None
    score_reference: ScoreReference | None = Field(
        None,
        description="The model's score histogram on the test split (reference.json), "
        "for drift gates of releases that serve it.",
    )
    conditions: list[Condition] = Field(default_factory=list)
    tuning: TuningStatus | None = None


def _crd_info() -> CrdInfo:
    return CrdInfo(
        kind="ModelTraining",
        plural="modeltrainings",
        singular="modeltraining",
        short_names=["mt"],
        spec=ModelTrainingSpec,
        status=ModelTrainingStatus,
        description="Trains a model in a Job, evaluates it on held-out data and gates it.",
        printer_columns=[
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Model", "type": "string", "jsonPath": ".spec.modelName"},
            {"name": "Metric", "type": "string", "jsonPath": ".status.headline"},
            {"name": "Tuning", "type": "string", "jsonPath": ".status.tuning.progress"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


CRD_INFO = _crd_info()
