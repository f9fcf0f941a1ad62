"""ModelRelease: keep one model in production and move a candidate into its place."""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from .bounds import (
    DNS_SUBDOMAIN_RE,
    DURATION_LENGTH,
    ENV_NAME_LENGTH,
    ENV_VALUE_LENGTH,
    IMAGE,
    IMAGE_LENGTH,
    KEY_LENGTH,
    NAME_LENGTH,
    PATH_LENGTH,
    QUERY_LENGTH,
    URI_LENGTH,
    AnnotationMap,
    DnsLabel,
    DnsSubdomain,
    Duration,
    LabelMap,
    LabelValue,
    Quantity,
    anchored,
    check_duration,
    check_limit,
    check_pvc,
    check_unique,
    duration_rule,
    keyed_list,
    limit_message,
    limit_rule,
    pvc_rules,
    qualified_name_cel,
    qualified_name_message,
    qualified_name_ok,
)
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
from .training import GATE_METRICS

RouterType = Literal["replicas", "gateway-api"]
ProviderType = Literal["scrape", "prometheus"]
InconclusivePolicy = Literal["Wait", "Pause", "Rollback"]
CandidatePolicy = Literal["Queue", "Replace"]
Command = Literal["promote", "promote-full", "pause", "resume", "abort", "retry", "retrain"]

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DIGEST = r"^(sha256:)?[0-9a-f]{64}$"
#: Environment variables the operator sets on every serving container itself; serving.env
#: must not replace or shadow them (the server reads its settings case-insensitively).
RESERVED_SERVING_ENV = (
    "MODELRELEASE_SERVER_ARTIFACT",
    "MODELRELEASE_SERVER_EXPECTED_DIGEST",
    "MODELRELEASE_SERVER_MODEL_NAME",
    "MODELRELEASE_SERVER_MODEL_VERSION",
    "MODELRELEASE_SERVER_PORT",
    "MODELRELEASE_SERVER_FEEDBACK_KEY",
    "MODELRELEASE_SERVER_RELEASE",
)
#: Stage durations: at least a second, at most a week.
STAGE_DURATION = ("1s", "168h")


_SELECTOR = "spec.candidate.fromTrainings"
_VALUES_MESSAGE = (
    f"{_SELECTOR}.matchExpressions: In and NotIn need values, Exists and DoesNotExist take none"
)


class LabelSelectorRequirement(ApiModel):
    """One matchExpressions entry of a Kubernetes label selector."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)",
                _VALUES_MESSAGE,
            ),
        )
    }

    key: str = Field(
        min_length=1,
        max_length=KEY_LENGTH,
        json_schema_extra=cel(
            (qualified_name_cel("self"), qualified_name_message(f"{_SELECTOR}.matchExpressions"))
        ),
    )
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[LabelValue] = Field(default_factory=list, max_length=64)

    @field_validator("key")
    @classmethod
    def _qualified(cls, key: str) -> str:
        if not qualified_name_ok(key):
            raise ValueError(qualified_name_message(f"{_SELECTOR}.matchExpressions"))
        return key

    @model_validator(mode="after")
    def _values_fit_the_operator(self) -> LabelSelectorRequirement:
        if (self.operator in {"In", "NotIn"}) != bool(self.values):
            raise ValueError(_VALUES_MESSAGE)
        return self


class LabelSelector(ApiModel):
    """A standard Kubernetes label selector (matchLabels and matchExpressions, ANDed)."""

    match_labels: LabelMap(f"{_SELECTOR}.matchLabels") = Field(  # type: ignore[valid-type]
        default_factory=dict
    )
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list, max_length=16)


_ARTIFACT_URI = "spec.candidate/spec.stable.artifactUri"


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
    artifact_uri: (
        Annotated[
            str,
            Field(
                min_length=1,
                max_length=URI_LENGTH,
                json_schema_extra=cel(*pvc_rules(_ARTIFACT_URI)),
            ),
            AfterValidator(lambda uri: check_pvc(_ARTIFACT_URI, uri)),
        ]
        | None
    ) = Field(
        None,
        description="pvc://CLAIM/PATH (no '..' segments), s3://, gs://, az:// or http(s):// "
        "folder of an artifact.",
    )
    digest: str | None = Field(
        None,
        pattern=DIGEST,
        max_length=71,
        description="The artifact digest (model.sha256; docs/artifacts.md): sha256:<hex> or <hex>.",
    )
    version: str | None = Field(
        None,
        max_length=63,
        pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$",
        description="Version label; the training's modelVersion when unset.",
    )
    metrics: dict[str, Any] | None = Field(
        None,
        max_length=64,
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

    path: str = Field(pattern=r"^/", max_length=PATH_LENGTH)
    initial_delay_seconds: int = Field(0, ge=0, le=3600)
    period_seconds: int = Field(5, ge=1, le=3600)
    timeout_seconds: int = Field(2, ge=1, le=3600)
    failure_threshold: int = Field(3, ge=1, le=1000)


def _readiness() -> Probe:
    return Probe(path="/v2/health/ready", period_seconds=5)


def _liveness() -> Probe:
    return Probe(path="/v2/health/live", period_seconds=10, failure_threshold=6)


class ServingResources(ApiModel):
    """Compute per serving pod; limits equal requests unless set."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            limit_rule("cpu", "cpuLimit", "spec.serving.resources"),
            limit_rule("memory", "memoryLimit", "spec.serving.resources"),
        )
    }

    cpu: Quantity = "500m"
    memory: Quantity = "512Mi"
    cpu_limit: Quantity | None = None
    memory_limit: Quantity | None = None

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> ServingResources:
        path = "spec.serving.resources"
        check_limit(self.cpu, self.cpu_limit, limit_message("cpu", "cpuLimit", path))
        check_limit(self.memory, self.memory_limit, limit_message("memory", "memoryLimit", path))
        return self


_RESERVED_MESSAGE = (
    "spec.serving.env: the operator sets "
    + ", ".join(RESERVED_SERVING_ENV)
    + " itself; they cannot be set here"
)


class EnvVar(ApiModel):
    """A plain environment variable of the serving container."""

    name: str = Field(
        pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$", min_length=1, max_length=ENV_NAME_LENGTH
    )
    value: str = Field("", max_length=ENV_VALUE_LENGTH)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name.upper() in RESERVED_SERVING_ENV:
            raise ValueError(_RESERVED_MESSAGE)
        return name


class Serving(ApiModel):
    """The serving pods of each version (the serving image's defaults work as they are)."""

    image: str = Field(
        "ghcr.io/modelrelease/server:0.1.0", min_length=1, max_length=IMAGE_LENGTH, pattern=IMAGE
    )
    replicas: int = Field(
        2, ge=1, le=100, description="Pods of the stable version when it takes all traffic."
    )
    port: int = Field(8080, ge=1, le=65535)
    resources: ServingResources = Field(default_factory=ServingResources)
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=64,
        json_schema_extra={
            # Each name once: the Deployment's env is a list keyed by name, which
            # server-side apply refuses to merge with duplicates.
            **keyed_list("name"),
            **cel(
                (
                    "self.all(e, !(e.name.upperAscii() in ["
                    + ", ".join(f"'{name}'" for name in RESERVED_SERVING_ENV)
                    + "]))",
                    _RESERVED_MESSAGE,
                ),
            ),
        },
        description="MODELRELEASE_SERVER_* settings etc., each name once; not those the "
        "operator sets itself (the artifact, digest, model name and version, port, feedback "
        "key, release).",
    )

    @field_validator("env")
    @classmethod
    def _env_names_once(cls, env: list[EnvVar]) -> list[EnvVar]:
        check_unique("spec.serving.env", [e.name for e in env])
        return env

    readiness_probe: Probe = Field(default_factory=_readiness)
    liveness_probe: Probe = Field(default_factory=_liveness)
    credentials_secret: str | None = Field(
        None,
        pattern=DNS_LABEL,
        max_length=NAME_LENGTH,
        description="A Secret whose keys become the server's environment (object stores).",
    )
    service_account_name: DnsSubdomain | None = None
    node_selector: LabelMap("spec.serving.nodeSelector") = Field(  # type: ignore[valid-type]
        default_factory=dict
    )
    pod_annotations: AnnotationMap("spec.serving.podAnnotations") = Field(  # type: ignore[valid-type]
        default_factory=dict
    )


class ParentRef(ApiModel):
    """A Gateway the HTTPRoute attaches to (gateway.networking.k8s.io ParentReference)."""

    name: str = Field(min_length=1, max_length=NAME_LENGTH)
    namespace: DnsLabel | None = None
    section_name: DnsSubdomain | None = None


#: Gateway API's rules for a PathPrefix value (HTTPPathMatch), which it checks itself.
_PATH_PREFIX_MESSAGE = (
    "spec.router.gatewayApi.pathPrefix: an absolute path without '//', '/./', '/../', "
    "'%2f', '%2F' or '#', not ending in '/.' or '/..'"
)
_PATH_PREFIX_FORBIDDEN = ("//", "/./", "/../", "%2f", "%2F", "#")


def _check_path_prefix(path: str) -> str:
    if any(part in path for part in _PATH_PREFIX_FORBIDDEN) or path.endswith(("/.", "/..")):
        raise ValueError(_PATH_PREFIX_MESSAGE)
    return path


def _same(field: str) -> str:
    """CEL: parent refs p and q agree on an optional field (both unset, or equal). CEL
    spells the property `namespace`, a reserved word, `__namespace__`."""
    return (
        f"((!has(p.{field}) && !has(q.{field})) || "
        f"(has(p.{field}) && has(q.{field}) && p.{field} == q.{field}))"
    )


#: Gateway API's own rule for parentRefs of one HTTPRoute.
_PARENTS_MESSAGE = (
    "spec.router.gatewayApi.parentRefs: each parent once; several references to one Gateway "
    "each name a different sectionName"
)


class GatewayApi(ApiModel):
    """The HTTPRoute of the `gateway-api` router."""

    @field_validator("parent_refs")
    @classmethod
    def _distinct_parents(cls, refs: list[ParentRef]) -> list[ParentRef]:
        seen = [(r.name, r.namespace or "", r.section_name or "") for r in refs]
        mixed = any(
            p.name == q.name
            and (p.namespace or "") == (q.namespace or "")
            and (p.section_name is None) != (q.section_name is None)
            for p in refs
            for q in refs
        )
        if len(set(seen)) != len(seen) or mixed:
            raise ValueError(_PARENTS_MESSAGE)
        return refs

    parent_refs: list[ParentRef] = Field(
        min_length=1,
        max_length=8,
        json_schema_extra=cel(
            (
                "self.all(p, self.exists_one(q, p.name == q.name && "
                f"{_same('__namespace__')} && {_same('sectionName')}))",
                _PARENTS_MESSAGE,
            ),
            (
                f"self.all(p, self.all(q, p.name != q.name || !{_same('__namespace__')} || "
                "has(p.sectionName) == has(q.sectionName)))",
                _PARENTS_MESSAGE,
            ),
        ),
    )
    hostnames: list[
        Annotated[
            str, Field(pattern=anchored(r"([*][.])?" + DNS_SUBDOMAIN_RE), max_length=NAME_LENGTH)
        ]
    ] = Field(default_factory=list, max_length=16)
    path_prefix: Annotated[
        str,
        Field(
            pattern=r"^/",
            max_length=PATH_LENGTH,
            json_schema_extra=cel(
                (
                    " && ".join(f"!self.contains('{part}')" for part in _PATH_PREFIX_FORBIDDEN)
                    + " && !self.endsWith('/.') && !self.endsWith('/..')",
                    _PATH_PREFIX_MESSAGE,
                )
            ),
        ),
        AfterValidator(_check_path_prefix),
    ] = "/"


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
    # The range is checked by ModelReleaseSpec, not here: the operator's own implied last
    # stage (stages.plan) lasts 0s.
    duration: str = Field(
        "1m",
        pattern=DURATION,
        max_length=DURATION_LENGTH,
        json_schema_extra=cel(duration_rule("spec.stages[].duration", *STAGE_DURATION)),
        description="How long to stay, e.g. 30s, 5m (judged throughout); 1s to 168h.",
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
        max_length=QUERY_LENGTH,
        description="Instant query returning one number. {{model}}, {{candidate}}, "
        "{{stable}}, {{namespace}}, {{release}} and {{window}} (seconds since the stage's "
        "window began, e.g. 90s) are replaced before querying.",
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
    custom: list[CustomGate] = Field(
        default_factory=list, max_length=16, json_schema_extra=keyed_list("name")
    )

    @field_validator("custom")
    @classmethod
    def _gate_names_once(cls, custom: list[CustomGate]) -> list[CustomGate]:
        check_unique("spec.analysis.gates.custom", [gate.name for gate in custom])
        return custom


class PrometheusProvider(ApiModel):
    address: str = Field(
        pattern=r"^https?://",
        max_length=URI_LENGTH,
        description="Base URL of the Prometheus HTTP API.",
    )
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

    interval: Duration("spec.analysis.interval", "1s", "1h") = Field(  # type: ignore[valid-type]
        "15s", description="Time between checks (1s to 1h)."
    )
    failure_limit: int = Field(
        1, ge=1, le=100, description="Failed checks (over the whole rollout) that roll back."
    )
    inconclusive: InconclusivePolicy = Field(
        "Wait",
        description="When a stage's time is up and a gate is still inconclusive: Wait (keep "
        "checking; never promoted), Pause (for a person to decide), Rollback.",
    )
    unavailable_limit: int = Field(
        20,
        ge=0,
        le=1000,
        description="Checks in a row with the metrics unreadable (provider down, pods not "
        "answering) before `unavailable` applies; 0: wait for ever.",
    )
    unavailable: InconclusivePolicy = Field(
        "Pause",
        description="After unavailableLimit checks without metrics: Wait, Pause (default) or "
        "Rollback. No check is ever passed on missing metrics.",
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
    readiness_deadline: Duration("spec.readinessDeadline", "1s", "24h") = Field(  # type: ignore[valid-type]
        "10m",
        description="A candidate not ready this long after it was deployed fails the release "
        "(1s to 24h).",
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
        for stage in self.stages:
            check_duration("spec.stages[].duration", stage.duration, *STAGE_DURATION)
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
