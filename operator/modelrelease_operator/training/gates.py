"""The quality gate: does a trained model's test metrics reach what the spec asks?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..api.training import LOWER_IS_BETTER, GateResult, QualityGate


@dataclass(frozen=True)
class Baseline:
    """The model a `mustBeat` release serves now, as the handler found it."""

    release_found: bool
    version: str | None = None
    metrics: dict[str, Any] | None = None


def _number(metrics: dict[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def evaluate(
    gate: QualityGate, metrics: dict[str, Any], baseline: Baseline | None
) -> list[GateResult]:
    """One result per clause; a metric the trainer did not report fails its clause."""
    results: list[GateResult] = []
    for threshold in gate.thresholds:
        value = _number(metrics, threshold.metric)
        for comparison, bound in ((">=", threshold.min), ("<=", threshold.max)):
            if bound is None:
                continue
            if value is None:
                passed, message = False, f"{threshold.metric} was not reported"
            else:
                passed = value >= bound if comparison == ">=" else value <= bound
                verdict = "meets" if passed else "misses"
                message = f"{threshold.metric}={value:.4g} {verdict} {comparison} {bound:g}"
            results.append(
                GateResult(
                    metric=threshold.metric,
                    comparison=comparison,
                    threshold=bound,
                    value=value,
                    passed=passed,
                    message=message,
                )
            )
    if gate.must_beat is not None:
        results.append(_must_beat(gate, metrics, baseline))
    return results


def _must_beat(gate: QualityGate, metrics: dict[str, Any], baseline: Baseline | None) -> GateResult:
    rule = gate.must_beat
    assert rule is not None
    value = _number(metrics, rule.metric)
    lower = rule.metric in LOWER_IS_BETTER
    comparison = "<=" if lower else ">="

    def result(threshold: float, passed: bool, message: str) -> GateResult:
        return GateResult(
            metric=rule.metric,
            comparison=comparison,
            threshold=threshold,
            value=value,
            passed=passed,
            message=message,
        )

    if baseline is None or not baseline.release_found:
        return result(0.0, False, f"release {rule.release} not found: cannot compare")
    if baseline.version is None:
        # The release's first model has nothing to beat.
        return result(0.0, True, f"release {rule.release} serves no model yet")
    stable = _number(baseline.metrics or {}, rule.metric)
    if stable is None:
        # A model is served but its metric is unknown (an artifact stable without
        # spec.stable.metrics, or its training is gone): passing would ship a model that
        # was never compared.
        return result(
            0.0,
            False,
            f"stable {baseline.version} of release {rule.release} has no {rule.metric} to "
            "beat: give spec.stable.metrics on the release, or remove mustBeat",
        )
    bound = stable - rule.margin if lower else stable + rule.margin
    if value is None:
        return result(bound, False, f"{rule.metric} was not reported")
    passed = value <= bound if lower else value >= bound
    verdict = "beats" if passed else "does not beat"
    return result(
        bound,
        passed,
        f"{rule.metric}={value:.4g} {verdict} stable {baseline.version} "
        f"({stable:.4g}) by margin {rule.margin:g}",
    )
