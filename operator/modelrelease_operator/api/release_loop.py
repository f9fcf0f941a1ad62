"""ModelRelease after the rollout: the stable watched in production, and retrained.

`spec.monitoring` keeps judging the stable once no rollout runs; `spec.retraining`
creates ModelTrainings (on degradation, on a schedule, or on the `retrain` command) that
come back as candidates through `spec.candidate.fromTrainings`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from .bounds import AnnotationMap, Duration, LabelMap
from .common import ApiModel, cel, preserve_unknown
from .release_gates import AccuracyGate, DriftGate, ErrorRateGate, LatencyGate

#: Five cron fields, or one of the @ shorthands; croniter checks the fields themselves.
CRON = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[^ ]+( [^ ]+){4})$"
#: An IANA time zone name: Europe/Berlin, America/Argentina/Buenos_Aires, Etc/GMT+5, UTC.
TIME_ZONE = r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$"


class MonitoringGates(ApiModel):
    """The stage gates that judge one version alone (the relative ones need two)."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "has(self.errorRate) || has(self.latency) || has(self.drift) || has(self.accuracy)",
                "spec.monitoring.gates: set at least one of errorRate, latency, drift, accuracy",
            ),
        )
    }

    error_rate: ErrorRateGate | None = None
    latency: LatencyGate | None = None
    drift: DriftGate | None = Field(
        None, description="Scores served against the stable's training reference."
    )
    accuracy: AccuracyGate | None = Field(None, description="Online accuracy from feedback labels.")

    @model_validator(mode="after")
    def _some_gate(self) -> MonitoringGates:
        if not any((self.error_rate, self.latency, self.drift, self.accuracy)):
            raise ValueError(
                "spec.monitoring.gates: set at least one of errorRate, latency, drift, accuracy"
            )
        return self


class Monitoring(ApiModel):
    """The stable in production, judged while no rollout runs."""

    interval: Duration("spec.monitoring.interval", "1s", "1h") = Field(  # type: ignore[valid-type]
        "1m", description="Time between checks (1s to 1h)."
    )
    window: Duration("spec.monitoring.window", "1s", "720h") = Field(  # type: ignore[valid-type]
        "10m",
        description="Each check judges about the last `window` of traffic (a sliding window; "
        "1s to 720h).",
    )
    failure_limit: int = Field(
        3, ge=1, le=100, description="Consecutive failed checks that make the release Degraded."
    )
    min_requests: int = Field(
        100, ge=0, description="Requests in the window before errorRate and latency judge."
    )
    gates: MonitoringGates


class Schedule(ApiModel):
    cron: str = Field(
        pattern=CRON,
        max_length=100,
        description="Standard five-field cron (minute hour day month weekday) or @daily etc.",
    )
    time_zone: str = Field(
        "UTC",
        max_length=64,
        pattern=TIME_ZONE,
        description="IANA time zone the cron fields are read in.",
    )


class RetrainingTriggers(ApiModel):
    on_degraded: bool = Field(
        True, description="Retrain when monitoring finds the stable Degraded."
    )
    schedule: Schedule | None = None


class TrainingTemplate(ApiModel):
    """The ModelTraining to create; its modelName is the release's."""

    labels: LabelMap("spec.retraining.template.labels") = Field(  # type: ignore[valid-type]
        default_factory=dict,
        description="Labels of the created training; spec.candidate.fromTrainings must "
        "select them.",
    )
    annotations: AnnotationMap("spec.retraining.template.annotations") = Field(  # type: ignore[valid-type]
        default_factory=dict
    )
    spec: dict[str, Any] = Field(
        max_length=32,
        json_schema_extra=preserve_unknown(),
        description="A ModelTraining spec. In spec.dataset.uri, {{date}} (YYYY-MM-DD in the "
        "schedule's time zone), {{timestamp}} (UTC, YYYYMMDDTHHMMSSZ), {{sequence}} and "
        "{{release}} are replaced, so that each retraining reads new data.",
    )


class Retraining(ApiModel):
    """Create a new ModelTraining when the stable degrades, on a schedule, or on request."""

    template: TrainingTemplate
    triggers: RetrainingTriggers = Field(default_factory=RetrainingTriggers)
    backoff: Duration("spec.retraining.backoff", "1m", "720h") = Field(  # type: ignore[valid-type]
        "1h",
        description="After a retraining ends, onDegraded waits this long before another "
        "(schedule and the retrain command do not wait); 1m to 720h.",
    )
    history_limit: int = Field(10, ge=1, le=50, description="Retrainings kept in status.")
