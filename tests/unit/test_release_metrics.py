"""The operator's per-release series: what dashboards and alerts read
(manifests/observability/). Each test uses a namespace of its own, since the metrics are
process-wide."""

from __future__ import annotations

from modelrelease_operator.api.release import GateStatus
from modelrelease_operator.handlers import release_metrics
from prometheus_client import REGISTRY


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def phases(namespace: str) -> dict[str, float | None]:
    return {
        phase: value(
            "modelrelease_operator_release_phase",
            namespace=namespace,
            release="loan",
            phase=phase,
        )
        for phase in release_metrics.PHASES
    }


def gate(name: str, verdict: str, value: float | None, threshold: float | None) -> GateStatus:
    return GateStatus.model_validate(
        {"name": name, "verdict": verdict, "value": value, "threshold": threshold}
    )


def test_the_phase_series_is_one_for_the_current_phase_only() -> None:
    release_metrics.record("phase-ns", "loan", "Progressing", 25, ["start"], None)
    assert phases("phase-ns") == {
        "Pending": 0,
        "Progressing": 1,
        "Paused": 0,
        "Succeeded": 0,
        "RolledBack": 0,
        "Failed": 0,
    }
    release_metrics.record("phase-ns", "loan", "Paused", 25, ["pause"], None)
    assert {p for p, v in phases("phase-ns").items() if v == 1} == {"Paused"}


def test_gate_values_and_thresholds_follow_the_last_check() -> None:
    mine = {"namespace": "gates-ns", "release": "loan"}
    checked = [
        gate("error-rate", "Pass", 0.002, 0.01),
        gate("drift", "Fail", 1.1, 0.25),
        gate("accuracy", "Inconclusive", None, 0.7),
    ]
    release_metrics.record("gates-ns", "loan", "Progressing", 25, [], checked)
    assert value("modelrelease_operator_gate_value", **mine, gate="error-rate") == 0.002
    assert value("modelrelease_operator_gate_threshold", **mine, gate="error-rate") == 0.01
    assert value("modelrelease_operator_gate_value", **mine, gate="drift") == 1.1
    # Inconclusive without a value: no value series, but its threshold.
    assert value("modelrelease_operator_gate_value", **mine, gate="accuracy") is None
    assert value("modelrelease_operator_gate_threshold", **mine, gate="accuracy") == 0.7

    # A tick that checked nothing leaves the last values in place.
    release_metrics.record("gates-ns", "loan", "Progressing", 25, [], None)
    assert value("modelrelease_operator_gate_value", **mine, gate="drift") == 1.1

    # A gate the next check does not report (or reports without a value) goes away.
    release_metrics.record(
        "gates-ns", "loan", "Progressing", 25, [], [gate("error-rate", "Pass", 0.0, 0.01)]
    )
    assert value("modelrelease_operator_gate_value", **mine, gate="error-rate") == 0.0
    assert value("modelrelease_operator_gate_value", **mine, gate="drift") is None
    assert value("modelrelease_operator_gate_threshold", **mine, gate="accuracy") is None


def test_a_new_rollout_drops_the_previous_rollouts_gate_values() -> None:
    mine = {"namespace": "rollout-ns", "release": "loan", "gate": "drift"}
    release_metrics.record(
        "rollout-ns", "loan", "RolledBack", 0, ["rollback"], [gate("drift", "Fail", 1.1, 0.25)]
    )
    assert value("modelrelease_operator_gate_value", **mine) == 1.1
    release_metrics.record("rollout-ns", "loan", "Progressing", 0, ["replace"], None)
    assert value("modelrelease_operator_gate_value", **mine) is None
    assert value("modelrelease_operator_gate_threshold", **mine) is None


def test_candidate_readiness_is_exported_only_when_given() -> None:
    mine = {"namespace": "ready-ns", "release": "loan"}
    release_metrics.record("ready-ns", "loan", "Progressing", 0, [], None)
    assert value("modelrelease_operator_candidate_ready", **mine) is None
    release_metrics.record("ready-ns", "loan", "Progressing", 0, [], None, candidate_ready=False)
    assert value("modelrelease_operator_candidate_ready", **mine) == 0
    release_metrics.record("ready-ns", "loan", "Progressing", 25, [], None, candidate_ready=True)
    assert value("modelrelease_operator_candidate_ready", **mine) == 1
    release_metrics.record("ready-ns", "loan", "Succeeded", 0, ["promote"], None)
    assert value("modelrelease_operator_candidate_ready", **mine) is None


def test_a_deleted_release_leaves_no_series_behind() -> None:
    mine = {"namespace": "gone-ns", "release": "loan"}
    release_metrics.record(
        "gone-ns",
        "loan",
        "Progressing",
        50,
        ["weight"],
        [gate("latency", "Pass", 0.05, 1.0)],
        candidate_ready=True,
    )
    assert value("modelrelease_operator_candidate_weight_percent", **mine) == 50
    before = value("modelrelease_operator_releases", phase="Progressing") or 0
    release_metrics.record("gone-ns", "loan", None, 0, [], None)
    assert value("modelrelease_operator_releases", phase="Progressing") == before - 1
    assert set(phases("gone-ns").values()) == {None}
    assert value("modelrelease_operator_candidate_weight_percent", **mine) is None
    assert value("modelrelease_operator_candidate_ready", **mine) is None
    assert value("modelrelease_operator_gate_value", **mine, gate="latency") is None
    assert value("modelrelease_operator_gate_threshold", **mine, gate="latency") is None
    # Deleting twice (a second delete event) is harmless.
    release_metrics.record("gone-ns", "loan", None, 0, [], None)


def test_a_replica_that_stops_leading_forgets_every_release() -> None:
    release_metrics.record("standby", "a", "Progressing", 25, ["weight"], None, degraded=True)
    release_metrics.record("standby", "b", "Succeeded", 0, [], None)
    assert value("modelrelease_operator_release_degraded", namespace="standby", release="a") == 1
    release_metrics.forget_all()
    for release in ("a", "b"):
        labels = {"namespace": "standby", "release": release}
        assert value("modelrelease_operator_candidate_weight_percent", **labels) is None
        assert value("modelrelease_operator_release_degraded", **labels) is None
        assert value("modelrelease_operator_release_phase", phase="Succeeded", **labels) is None
    assert value("modelrelease_operator_releases", phase="Progressing") == 0
