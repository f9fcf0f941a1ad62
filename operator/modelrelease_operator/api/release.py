"""ModelRelease: keep one model in production and move a candidate into its place."""

from __future__ import annotations

import itertools
from typing import Any, Literal

from pydantic import Field, model_validator

from .common import ApiModel, ScoreReference, cel, preserve_unknown
from .crdgen import CrdInfo
from .release_gates import DURATION, AccuracyGate, DriftGate, ErrorRateGate, LatencyGate
from .release_loop import Monitoring, Retraining
from .release_status import (
    CandidateSelection,
    GateStatus,
    HistoryEntry,
    LastCommand,
    ModelRef,
    ModelReleaseStatus,
    PauseReason,
    ReleasePhase,
    RiskStatus,
    Verdict,
    VersionCounts,
    Window,
)
from .training import GATE_METRICS, QUANTITY

RouterType = Literal["replicas", "gateway-api"]
ProviderType = Literal["scrape", "prometheus"]
InconclusivePolicy = Literal["Wait", "Pause", "Rollback"]
CandidatePolicy = Literal["Queue", "Replace"]
Command = Literal["promote", "promote-full", "pause", "resume", "abort", "retry", "retrain"]

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DIGEST = r"^(sha256:)?[0-9a-f]{64}$"


class LabelSelectorRequirement(ApiModel):
    """One matchExpressions entry of a Kubernetes label selector."""

    key: str = Field(min_length=1, max_length=317)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default_factory=list, max_length=64)


class LabelSelector(ApiModel):
    """A standard Kubernetes label selector (matchLabels and matchExpressions, ANDed)."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list, max_length=16)


class ModelSource(ApiModel):
    """Where a model comes from: a ModelTraining, or an artifact named directly."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "(has(self.training) ? 1 : 0) + (has(self.artifactUri) || has(self.digest) "
                "? 1 : 0) + (has(self.fromTrainings) ? 1 : 0) == 1",
                "spec.candidate/spec.stable: set either training, artifactUri with digest, "
                "or fromTrainings (exactly one)",
            ),
            (
                "has(self.artifactUri) == has(self.digest)",
                "spec.candidate/spec.stable: artifactUri and digest go together",
            ),
            (
                "has(self.training) || has(self.fromTrainings) || has(self.version)",
                "spec.candidate/spec.stable: an artifact source needs a version",
            ),
            (
                "!has(self.policy) || has(self.fromTrainings)",
                "spec.candidate.policy: applies only with fromTrainings",
            ),
            (
                "!has(self.fromTrainings) || !has(self.version)",
                "spec.candidate.version: each training brings its own version with fromTrainings",
            ),
        )
    }

    training: str | None = Field(
        None,
        pattern=DNS_LABEL,
        max_length=253,
        description="A ModelTraining in this namespace; its status gives the artifact, digest, "
        "version and offline metrics. A Rejected training can never become a candidate.",
    )
    artifact_uri: str | None = Field(
        None,
        min_length=1,
        description="pvc://CLAIM/PATH, s3://, gs://, az:// or http(s):// folder of an artifact.",
    )
    digest: str | None = Field(
        None, pattern=DIGEST, description="sha256 of model.ubj: sha256:<hex> or <hex>."
    )
    version: str | None = Field(
        None,
        max_length=63,
        pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$",
        description="Version label; the training's modelVersion when unset.",
    )
    metrics: dict[str, Any] | None = Field(
        None,
        json_schema_extra=preserve_unknown(),
        description="Offline metrics of an artifact source, for the risk check.",
    )
    from_trainings: LabelSelector | None = Field(
        None,
        description="spec.candidate only: the newest ModelTraining in this namespace with "
        "the release's modelName, matching this selector, that Succeeded (passed its quality "
        "gate) and is newer than the stable becomes the candidate by itself.",
    )
    policy: CandidatePolicy | None = Field(
        None,
        description="With fromTrainings, a newer passing training during a rollout: Queue "
        "(default; rolled out once this rollout ends) or Replace (the running candidate goes "
        "back to zero weight and the new one starts at stage 1).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ModelSource:
        # The same rules as the CEL above, for objects built in Python.
        artifact = self.artifact_uri is not None or self.digest is not None
        chosen = [self.training is not None, artifact, self.from_trainings is not None]
        if chosen.count(True) != 1:
            raise ValueError(
                "set either training, artifactUri with digest, or fromTrainings (exactly one)"
            )
        if (self.artifact_uri is None) != (self.digest is None):
            raise ValueError("artifactUri and digest go together")
        if artifact and self.version is None:
            raise ValueError("an artifact source needs a version")
        if self.policy is not None and self.from_trainings is None:
            raise ValueError("spec.candidate.policy: applies only with fromTrainings")
        if self.from_trainings is not None and self.version is not None:
            raise ValueError(
                "spec.candidate.version: each training brings its own version with fromTrainings"
            )
        return self


class Probe(ApiModel):
    """An HTTP probe of the serving container."""

    path: str = Field(pattern=r"^/")
    initial_delay_seconds: int = Field(0, ge=0)
    period_seconds: int = Field(5, ge=1)
    timeout_seconds: int = Field(2, ge=1)
    failure_threshold: int = Field(3, ge=1)


def _readiness() -> Probe:
    return Probe(path="/v2/health/ready", period_seconds=5)


def _liveness() -> Probe:
    return Probe(path="/v2/health/live", period_seconds=10, failure_threshold=6)


class ServingResources(ApiModel):
    """Compute per serving pod; limits equal requests unless set."""

    cpu: str = Field("500m", pattern=QUANTITY)
    memory: str = Field("512Mi", pattern=QUANTITY)
    cpu_limit: str | None = Field(None, pattern=QUANTITY)
    memory_limit: str | None = Field(None, pattern=QUANTITY)


class EnvVar(ApiModel):
    """A plain environment variable of the serving container."""

    name: str = Field(pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
    value: str = ""


class Serving(ApiModel):
    """The serving pods of each version (the serving image's defaults work as they are)."""

    image: str = Field("ghcr.io/modelrelease/server:0.1.0", min_length=1)
    replicas: int = Field(
        2, ge=1, le=100, description="Pods of the stable version when it takes all traffic."
    )
    port: int = Field(8080, ge=1, le=65535)
    resources: ServingResources = Field(default_factory=ServingResources)
    env: list[EnvVar] = Field(
        default_factory=list, max_length=64, description="MODELRELEASE_SERVER_* settings etc."
    )
    readiness_probe: Probe = Field(default_factory=_readiness)
    liveness_probe: Probe = Field(default_factory=_liveness)
    credentials_secret: str | None = Field(
        None,
        pattern=DNS_LABEL,
        description="A Secret whose keys become the server's environment (object stores).",
    )
    service_account_name: str | None = None
    node_selector: dict[str, str] = Field(default_factory=dict)
    pod_annotations: dict[str, str] = Field(default_factory=dict)


class ParentRef(ApiModel):
    """A Gateway the HTTPRoute attaches to (gateway.networking.k8s.io ParentReference)."""

    name: str = Field(min_length=1)
    namespace: str | None = None
    section_name: str | None = None


class GatewayApi(ApiModel):
    """The HTTPRoute of the `gateway-api` router."""

    parent_refs: list[ParentRef] = Field(min_length=1, max_length=8)
    hostnames: list[str] = Field(default_factory=list, max_length=16)
    path_prefix: str = Field("/", pattern=r"^/")


class Router(ApiModel):
    """How traffic is split between stable and candidate."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "self.type != 'gateway-api' || has(self.gatewayApi)",
                "spec.router.gatewayApi (with parentRefs) is required for type gateway-api",
            ),
        )
    }

    @model_validator(mode="after")
    def _gateway_needs_parents(self) -> Router:
        if self.type == "gateway-api" and self.gateway_api is None:
            raise ValueError("spec.router.gatewayApi is required for type gateway-api")
        return self

    type: RouterType = Field(
        "replicas",
        description="replicas: one Service selects both versions; the weight is the share of "
        "replicas. gateway-api: an HTTPRoute with exact backend weights, one Service each.",
    )
    gateway_api: GatewayApi | None = None


class Stage(ApiModel):
    """One step of the rollout: a share of traffic held for a while and judged."""

    weight: int = Field(ge=1, le=100, description="Percent of traffic on the candidate.")
    duration: str = Field(
        "1m", pattern=DURATION, description="How long to stay, e.g. 30s, 5m (judged throughout)."
    )
    min_requests: int = Field(
        100, ge=0, description="Candidate requests in this stage before a verdict is possible."
    )
    pause: bool = Field(
        False, description="After passing, wait for `promote` (or `resume`) before moving on."
    )


def _stages() -> list[Stage]:
    return [Stage(weight=w) for w in (10, 25, 50, 100)]


class RelativeErrorRateGate(ApiModel):
    alpha: float = Field(
        0.05, gt=0, lt=1, description="Significance of the one-sided two-proportion z-test."
    )
    tolerance: float = Field(
        0.0, ge=0, le=1, description="Extra error rate over stable allowed before testing."
    )


class RelativeLatencyGate(ApiModel):
    quantile: float = Field(0.99, gt=0, lt=1)
    max_ratio: float = Field(gt=0, description="Candidate quantile / stable quantile at most.")


class RelativeDriftGate(ApiModel):
    max_psi: float = Field(gt=0, description="PSI between the two versions' score histograms.")
    alpha: float = Field(
        0.01, gt=0, lt=1, description="And the chi-square test of homogeneity must reject."
    )
    min_predictions: int = Field(200, ge=1)


class RelativeGates(ApiModel):
    """Candidate against stable over the same window."""

    error_rate: RelativeErrorRateGate | None = None
    latency: RelativeLatencyGate | None = None
    drift: RelativeDriftGate | None = None


class CustomGate(ApiModel):
    """A PromQL expression judged against a bound (the `prometheus` provider only)."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "has(self.min) || has(self.max)",
                "spec.analysis.gates.custom: each custom gate needs min or max",
            ),
        )
    }

    @model_validator(mode="after")
    def _bounded(self) -> CustomGate:
        if self.min is None and self.max is None:
            raise ValueError("spec.analysis.gates.custom: each custom gate needs min or max")
        return self

    name: str = Field(pattern=DNS_LABEL, max_length=63)
    query: str = Field(
        min_length=1,
        description="Instant query returning one number. {{model}}, {{candidate}}, {{stable}}, "
        "{{namespace}} and {{window}} (seconds since the stage's window began, e.g. 90s) "
        "are replaced before querying.",
    )
    min: float | None = None
    max: float | None = None


class Gates(ApiModel):
    """What a candidate must satisfy at every check."""

    error_rate: ErrorRateGate | None = Field(default_factory=lambda: ErrorRateGate(max=0.01))
    latency: LatencyGate | None = None
    drift: DriftGate | None = None
    accuracy: AccuracyGate | None = None
    relative: RelativeGates = Field(default_factory=RelativeGates)
    custom: list[CustomGate] = Field(default_factory=list, max_length=16)


class PrometheusProvider(ApiModel):
    address: str = Field(pattern=r"^https?://", description="Base URL of the Prometheus HTTP API.")
    timeout_seconds: float = Field(5, gt=0, le=60)


class Provider(ApiModel):
    """Where the serving metrics come from."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "self.type != 'prometheus' || has(self.prometheus)",
                "spec.analysis.provider.prometheus.address is required for type prometheus",
            ),
        )
    }

    @model_validator(mode="after")
    def _prometheus_needs_address(self) -> Provider:
        if self.type == "prometheus" and self.prometheus is None:
            raise ValueError("spec.analysis.provider.prometheus is required for type prometheus")
        return self

    type: ProviderType = Field(
        "scrape",
        description="scrape: each serving pod's /metrics through the API server's pod proxy. "
        "prometheus: query a Prometheus HTTP API.",
    )
    prometheus: PrometheusProvider | None = None


class Analysis(ApiModel):
    """How and how often the candidate is judged."""

    interval: str = Field("15s", pattern=DURATION, description="Time between checks.")
    failure_limit: int = Field(
        1, ge=1, le=100, description="Failed checks (over the whole rollout) that roll back."
    )
    inconclusive: InconclusivePolicy = Field(
        "Wait",
        description="When a stage's time is up and a gate is still inconclusive: Wait (keep "
        "checking; never promoted), Pause (for a person to decide), Rollback.",
    )
    provider: Provider = Field(default_factory=Provider)
    gates: Gates = Field(default_factory=Gates)


class RiskMetric(ApiModel):
    metric: Literal[GATE_METRICS] = "roc_auc"  # type: ignore[valid-type]
    max_degradation: float = Field(
        0.0, ge=0, description="How much worse than stable (in the metric's units) is allowed."
    )


class RiskCheck(ApiModel):
    """Offline metrics of candidate and stable, compared before any traffic moves."""

    metrics: list[RiskMetric] = Field(default_factory=lambda: [RiskMetric()], max_length=9)
    require_metrics: bool = Field(
        False, description="Refuse a candidate whose offline metrics are unknown."
    )


class ModelReleaseSpec(ApiModel):
    """The model in production, the candidate, and how to move one into the other's place."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "!has(self.analysis) || !has(self.analysis.gates) || "
                "!has(self.analysis.gates.custom) || size(self.analysis.gates.custom) == 0 || "
                "(has(self.analysis.provider) && self.analysis.provider.type == 'prometheus')",
                "spec.analysis.gates.custom: custom PromQL gates need the prometheus provider",
            ),
            (
                "has(self.candidate) || has(self.stable)",
                "spec.candidate (or spec.stable) is required",
            ),
            (
                "!has(self.stable) || !has(self.stable.fromTrainings)",
                "spec.stable.fromTrainings: only spec.candidate can follow trainings",
            ),
            (
                "!has(self.retraining) || (has(self.candidate) && "
                "has(self.candidate.fromTrainings))",
                "spec.retraining: needs spec.candidate.fromTrainings, which rolls out what "
                "retraining creates",
            ),
        )
    }

    model_name: str = Field(pattern=DNS_LABEL, max_length=40, description="The logical model.")
    stable: ModelSource | None = Field(
        None,
        description="The model to put in production first. Read only while the release "
        "serves nothing yet; afterwards status.stable is the production model.",
    )
    candidate: ModelSource | None = Field(
        None,
        description="The model to move into production; changing it starts a rollout. "
        "fromTrainings follows the newest passing ModelTraining instead of naming one.",
    )
    serving: Serving = Field(default_factory=Serving)
    router: Router = Field(default_factory=Router)
    stages: list[Stage] = Field(
        default_factory=_stages,
        min_length=1,
        max_length=20,
        json_schema_extra=cel(
            (
                "self.map(s, s.weight).isSorted() && "
                "self.all(s, self.exists_one(t, t.weight == s.weight))",
                "spec.stages: weights must strictly increase",
            ),
        ),
        description="Steps of the rollout; weights strictly increase, at most 100. When the "
        "last is below 100, full promotion follows it.",
    )
    analysis: Analysis = Field(default_factory=Analysis)
    risk_check: RiskCheck = Field(default_factory=RiskCheck)
    readiness_deadline: str = Field(
        "10m",
        pattern=DURATION,
        description="A candidate not ready this long after it was deployed fails the release.",
    )
    monitoring: Monitoring | None = Field(
        None,
        description="Keep judging the stable in production once no rollout runs; failing "
        "checks make the release Degraded.",
    )
    retraining: Retraining | None = Field(
        None,
        description="Create ModelTrainings (on Degraded, on a schedule, on the retrain "
        "command) that spec.candidate.fromTrainings then rolls out.",
    )
    paused: bool = Field(False, description="Hold the rollout where it is (gates still judge).")
    history_limit: int = Field(20, ge=1, le=100, description="Entries kept in status.history.")

    @model_validator(mode="after")
    def _consistent(self) -> ModelReleaseSpec:
        weights = [stage.weight for stage in self.stages]
        if any(later <= earlier for earlier, later in itertools.pairwise(weights)):
            raise ValueError("spec.stages: weights must strictly increase")
        if self.analysis.gates.custom and self.analysis.provider.type != "prometheus":
            raise ValueError(
                "spec.analysis.gates.custom: custom PromQL gates need the prometheus provider"
            )
        if self.candidate is None and self.stable is None:
            raise ValueError("spec.candidate (or spec.stable) is required")
        if self.stable is not None and self.stable.from_trainings is not None:
            raise ValueError("spec.stable.fromTrainings: only spec.candidate can follow trainings")
        if self.retraining is not None and (
            self.candidate is None or self.candidate.from_trainings is None
        ):
            raise ValueError(
                "spec.retraining: needs spec.candidate.fromTrainings, which rolls out what "
                "retraining creates"
            )
        return self


def _crd_info() -> CrdInfo:
    return CrdInfo(
        kind="ModelRelease",
        plural="modelreleases",
        singular="modelrelease",
        short_names=["mr"],
        spec=ModelReleaseSpec,
        status=ModelReleaseStatus,
        description="Keeps a model in production and moves a candidate into its place through "
        "metric-judged stages, rolling back on its own when the candidate does harm.",
        printer_columns=[
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Stage", "type": "string", "jsonPath": ".status.stage"},
            {"name": "Weight", "type": "integer", "jsonPath": ".status.candidateWeight"},
            {"name": "Stable", "type": "string", "jsonPath": ".status.stableVersion"},
            {"name": "Candidate", "type": "string", "jsonPath": ".status.candidateVersion"},
            {"name": "Health", "type": "string", "jsonPath": ".status.health"},
            {"name": "Retraining", "type": "string", "jsonPath": ".status.retraining.current.name"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


CRD_INFO = _crd_info()


__all__ = [
    "CRD_INFO",
    "CandidateSelection",
    "GateStatus",
    "HistoryEntry",
    "LabelSelector",
    "LastCommand",
    "ModelRef",
    "ModelReleaseSpec",
    "ModelReleaseStatus",
    "PauseReason",
    "ReleasePhase",
    "RiskStatus",
    "ScoreReference",
    "Verdict",
    "VersionCounts",
    "Window",
]
