"""The gates that judge one version's window, shared by the stages and monitoring."""

from __future__ import annotations

from pydantic import Field

from .bounds import DURATION_RE, anchored
from .common import ApiModel

#: Go-style durations, as Argo Rollouts and Flagger write them: 30s, 5m, 1h30m, 1.5m
#: (at most six digits before a unit; each field has its range, see bounds.Duration).
DURATION = anchored(DURATION_RE)


class ErrorRateGate(ApiModel):
    max: float = Field(ge=0, le=1, description="Highest share of failed requests (0.01 = 1%).")
    include_client_errors: bool = Field(
        False, description="Count 4xx answers too (by default only 5xx count as errors)."
    )


class LatencyGate(ApiModel):
    max_seconds: float = Field(gt=0)
    quantile: float = Field(0.99, gt=0, lt=1)


class DriftGate(ApiModel):
    max_psi: float = Field(
        gt=0, description="Population stability index against reference.json (0.2: a shift)."
    )
    min_predictions: int = Field(200, ge=1)


class AccuracyGate(ApiModel):
    min: float = Field(ge=0, le=1)
    min_feedback: int = Field(100, ge=1, description="Labels needed before judging.")
