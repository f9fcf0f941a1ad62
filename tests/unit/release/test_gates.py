"""Each gate's verdict on a window, table-driven."""

from __future__ import annotations

import math

import pytest
from modelrelease_operator.api.release import Gates
from modelrelease_operator.release import gates
from modelrelease_operator.release.observations import Histogram, VersionSnapshot

from .builders import SCORE_BOUNDS, reference, score_counts

LATENCY = (0.01, 0.05, 0.1, 0.5, math.inf)


def served(
    requests: float,
    errors: float = 0,
    *,
    slow_share: float = 0.0,
    score_mean: float = 0.3,
    feedback: float = 0,
    correct: float = 0,
) -> VersionSnapshot:
    """Requests with latencies mostly under 50 ms; `slow_share` of them near 400 ms."""
    fast = requests * (1 - slow_share)
    latency = (fast * 0.5, fast, fast, requests, requests)
    scores = score_counts(score_mean, requests)
    cumulative = tuple(sum(scores[: i + 1]) for i in range(len(scores)))
    return VersionSnapshot(
        requests=requests,
        server_errors=errors,
        latency=Histogram(LATENCY, latency),
        scores=Histogram(SCORE_BOUNDS, cumulative),
        feedback=feedback,
        feedback_correct=correct,
    )


def window(
    candidate: VersionSnapshot, stable: VersionSnapshot | None = None, **kw: object
) -> gates.Window:
    return gates.Window(
        candidate=candidate,
        stable=stable or served(5000),
        candidate_weight=int(kw.get("weight", 25)),  # type: ignore[call-overload]
        min_requests=int(kw.get("min_requests", 100)),  # type: ignore[call-overload]
        reference=reference(),
        custom=kw.get("custom", {}),  # type: ignore[arg-type]
    )


def verdicts(spec: dict[str, object], w: gates.Window) -> dict[str, str]:
    return {r.name: r.verdict for r in gates.evaluate(Gates.model_validate(spec), w)}


ERRORS = {"errorRate": {"max": 0.02}}
P99 = {"latency": {"maxSeconds": 0.25}}
DRIFT = {"drift": {"maxPsi": 0.2}}
ACCURACY = {"accuracy": {"min": 0.8}}
VS_ERRORS = {"relative": {"errorRate": {}}}
VS_LATENCY = {"relative": {"latency": {"maxRatio": 1.5}}}
VS_DRIFT = {"relative": {"drift": {"maxPsi": 0.1}}}
AT_MOST_1 = {"custom": [{"name": "q", "query": "x", "max": 1}]}
AT_LEAST_1 = {"custom": [{"name": "q", "query": "x", "min": 1}]}
NO_GATES = {"errorRate": None}

CASES = [
    ("errors within", ERRORS, window(served(1000, 10)), "error-rate", "Pass"),
    ("errors over", ERRORS, window(served(1000, 50)), "error-rate", "Fail"),
    ("errors few", ERRORS, window(served(50, 50)), "error-rate", "Inconclusive"),
    ("p99 fast", P99, window(served(1000)), "latency-p99", "Pass"),
    ("p99 slow", P99, window(served(1000, slow_share=0.05)), "latency-p99", "Fail"),
    ("drift none", DRIFT, window(served(1000)), "drift", "Pass"),
    ("drift shifted", DRIFT, window(served(1000, score_mean=0.6)), "drift", "Fail"),
    ("drift few", DRIFT, window(served(100, score_mean=0.6)), "drift", "Inconclusive"),
    ("accuracy ok", ACCURACY, window(served(1000, feedback=200, correct=180)), "accuracy", "Pass"),
    ("accuracy bad", ACCURACY, window(served(1000, feedback=200, correct=100)), "accuracy", "Fail"),
    ("accuracy few", ACCURACY, window(served(1000, feedback=20, correct=20)), "accuracy",
     "Inconclusive"),
    ("vs errors same", VS_ERRORS, window(served(1000, 10), served(5000, 50)),
     "relative-error-rate", "Pass"),
    ("vs errors worse", VS_ERRORS, window(served(1000, 40), served(5000, 50)),
     "relative-error-rate", "Fail"),
    ("vs latency same", VS_LATENCY, window(served(1000)), "relative-latency", "Pass"),
    ("vs latency worse", VS_LATENCY, window(served(1000, slow_share=0.05)), "relative-latency",
     "Fail"),
    ("vs drift same", VS_DRIFT, window(served(1000)), "relative-drift", "Pass"),
    ("vs drift shifted", VS_DRIFT, window(served(1000, score_mean=0.6)), "relative-drift", "Fail"),
    ("custom in", AT_MOST_1, window(served(1000), custom={"q": 0.5}), "custom:q", "Pass"),
    ("custom out", AT_LEAST_1, window(served(1000), custom={"q": 0.5}), "custom:q", "Fail"),
    ("custom none", AT_MOST_1, window(served(1000), custom={"q": None}), "custom:q",
     "Inconclusive"),
    ("traffic enough", NO_GATES, window(served(100)), "traffic", "Pass"),
    ("traffic none", NO_GATES, window(served(0)), "traffic", "Inconclusive"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "w", "gate", "verdict"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_gate_verdicts(spec: dict[str, object], w: gates.Window, gate: str, verdict: str) -> None:
    assert verdicts(spec, w)[gate] == verdict


def test_a_failure_carries_value_threshold_and_sample_size() -> None:
    [_, result] = gates.evaluate(
        Gates.model_validate({"errorRate": {"max": 0.02}}), window(served(1000, 50))
    )
    assert (result.value, result.threshold, result.samples) == (0.05, 0.02, 1000)
    assert result.message == "error rate 0.05 > 0.02 over 1000"


def test_relative_gates_sit_out_at_full_weight() -> None:
    spec = {"relative": {"errorRate": {}, "latency": {"maxRatio": 1.5}}}
    found = verdicts(spec, window(served(1000), served(0), weight=100))
    assert "relative-error-rate" not in found and "relative-latency" not in found


def test_drift_without_a_reference_is_inconclusive() -> None:
    w = gates.Window(
        candidate=served(1000), stable=served(1000), candidate_weight=10, min_requests=1
    )
    [_, _, result] = gates.evaluate(Gates.model_validate({"drift": {"maxPsi": 0.2}}), w)
    assert result.verdict == "Inconclusive" and "reference" in result.message


@pytest.mark.parametrize(
    ("verdicts_seen", "overall"),
    [(["Pass", "Pass"], "Pass"), (["Pass", "Inconclusive"], "Inconclusive"),
     (["Inconclusive", "Fail"], "Fail")],
)  # fmt: skip
def test_summary_never_counts_inconclusive_as_pass(verdicts_seen: list[str], overall: str) -> None:
    from modelrelease_operator.api.release import GateStatus

    results = [GateStatus(name=str(i), verdict=v) for i, v in enumerate(verdicts_seen)]  # type: ignore[arg-type]
    assert gates.summary(results) == overall
