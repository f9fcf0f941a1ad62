from __future__ import annotations

import pytest
from modelrelease_operator.api.training import QualityGate
from modelrelease_operator.training.gates import Baseline, evaluate

METRICS = {"roc_auc": 0.85, "log_loss": 0.3, "accuracy": 0.9}


def gate(**document: object) -> QualityGate:
    return QualityGate.model_validate(document)


@pytest.mark.parametrize(
    ("thresholds", "passed"),
    [
        pytest.param([{"metric": "roc_auc", "min": 0.8}], [True], id="min-met"),
        pytest.param([{"metric": "roc_auc", "min": 0.9}], [False], id="min-missed"),
        pytest.param([{"metric": "log_loss", "max": 0.25}], [False], id="max-missed"),
        pytest.param([{"metric": "accuracy", "min": 0.5, "max": 0.95}], [True, True], id="band"),
        pytest.param([{"metric": "f1", "min": 0.1}], [False], id="metric-not-reported"),
    ],
)
def test_thresholds(thresholds: list[dict[str, object]], passed: list[bool]) -> None:
    results = evaluate(gate(thresholds=thresholds), METRICS, None)
    assert [r.passed for r in results] == passed


def test_failed_threshold_names_metric_value_and_bound() -> None:
    [result] = evaluate(gate(thresholds=[{"metric": "roc_auc", "min": 0.9}]), METRICS, None)
    assert result.message == "roc_auc=0.85 misses >= 0.9"
    assert (result.value, result.threshold, result.comparison) == (0.85, 0.9, ">=")


def test_must_beat_stable_by_margin() -> None:
    rule = gate(mustBeat={"release": "loan", "metric": "roc_auc", "margin": 0.01})
    stable = Baseline(release_found=True, version="v1", metrics={"roc_auc": 0.84})
    [beat] = evaluate(rule, METRICS, stable)
    assert beat.passed and beat.threshold == pytest.approx(0.85)
    worse = Baseline(release_found=True, version="v1", metrics={"roc_auc": 0.845})
    [missed] = evaluate(rule, METRICS, worse)
    assert not missed.passed and "does not beat stable v1" in missed.message


def test_must_beat_lower_is_better_metrics_subtract_the_margin() -> None:
    rule = gate(mustBeat={"release": "loan", "metric": "log_loss", "margin": 0.05})
    [result] = evaluate(rule, METRICS, Baseline(True, "v1", {"log_loss": 0.36}))
    assert result.passed and result.comparison == "<=" and result.threshold == pytest.approx(0.31)


def test_must_beat_with_missing_release_fails_and_first_model_passes() -> None:
    rule = gate(mustBeat={"release": "loan"})
    [missing] = evaluate(rule, METRICS, Baseline(release_found=False))
    assert not missing.passed and "not found" in missing.message
    [first] = evaluate(rule, METRICS, Baseline(release_found=True))
    assert first.passed and "serves no model" in first.message


def test_must_beat_rejects_when_the_served_model_has_no_such_metric() -> None:
    rule = gate(mustBeat={"release": "loan", "metric": "roc_auc"})
    for metrics in (None, {}, {"accuracy": 0.9}, {"roc_auc": "n/a"}):
        [result] = evaluate(rule, METRICS, Baseline(True, "v1", metrics))
        assert not result.passed
        assert "stable v1 of release loan has no roc_auc to beat" in result.message
