"""Snapshots from the server's real exposition format, summed over pods, and windows."""

from __future__ import annotations

import math

import numpy as np
from modelrelease_operator.api.release import VersionCounts
from modelrelease_operator.release import promql
from modelrelease_operator.release.observations import Histogram, VersionSnapshot, parse_exposition
from modelrelease_server.metrics import ServerMetrics

EDGES = tuple(round(0.05 * i, 2) for i in range(21))


def pod_text(version: str, *, ok: int, failed: int, latency: float, scores: list[float]) -> str:
    """What one serving pod's /metrics says, written by the server's own metrics code."""
    metrics = ServerMetrics("loan-default", version, "ab" * 32, EDGES)
    for _ in range(ok):
        metrics.requests["predict", "success"].inc()
        metrics.duration["predict"].observe(latency)
    for _ in range(failed):
        metrics.requests["infer", "server_error"].inc()
        metrics.duration["infer"].observe(latency)
    metrics.requests["metadata", "success"].inc(5)  # not a prediction: not counted
    metrics.observe_scores(np.asarray(scores))
    metrics.feedback.inc(4)
    metrics.feedback_correct.inc(3)
    return metrics.render().decode()


def test_a_snapshot_sums_the_pods_of_each_version() -> None:
    texts = [
        pod_text("v1", ok=90, failed=10, latency=0.02, scores=[0.1, 0.2]),
        pod_text("v1", ok=50, failed=0, latency=0.04, scores=[0.9]),
        pod_text("v2", ok=7, failed=3, latency=0.3, scores=[0.5] * 10),
    ]
    found = parse_exposition(texts, "loan-default")
    v1, v2 = found["v1"], found["v2"]
    assert v1.requests == 150 and v1.server_errors == 10
    assert v1.latency.total == 150 and v1.latency.bounds[-1] == math.inf
    assert v1.scores.total == 3 and v1.scores.bounds == (*EDGES, math.inf)
    assert v1.feedback == 8 and v1.feedback_correct == 6
    assert v2.requests == 10 and v2.server_errors == 3
    assert parse_exposition(texts, "other-model") == {}


def test_a_window_is_the_difference_and_survives_the_status_round_trip() -> None:
    before = parse_exposition(
        [pod_text("v1", ok=100, failed=1, latency=0.02, scores=[0.1])], "loan-default"
    )["v1"]
    after = parse_exposition(
        [pod_text("v1", ok=160, failed=4, latency=0.02, scores=[0.1, 0.1])], "loan-default"
    )["v1"]
    stored = VersionCounts.model_validate(before.compact().to_wire())
    window = after.since(stored)
    assert window.requests == 63 and window.server_errors == 3
    assert window.latency.total == 63 and window.scores.total == 1


def test_a_counter_that_went_back_means_a_restart_and_the_current_count_is_used() -> None:
    restarted = parse_exposition(
        [pod_text("v1", ok=5, failed=0, latency=0.02, scores=[0.1])], "loan-default"
    )["v1"]
    stored = VersionCounts(requests=500, latency=[500.0] * 26, scores=[1.0] * 22)
    assert restarted.since(stored) == restarted


def test_feedback_and_serving_counters_reset_apart() -> None:
    """Labels count where they arrive: a pod of the other version going away takes some
    of this version's feedback with it, which must not reset its request counts."""
    now = VersionSnapshot(requests=300, feedback=40, feedback_correct=30)
    start = VersionCounts(requests=200, feedback=55, feedback_correct=50)
    window = now.since(start)
    assert window.requests == 100  # still the difference
    assert (window.feedback, window.feedback_correct) == (40, 30)  # went back: current
    served_back = VersionSnapshot(requests=20, feedback=70, feedback_correct=60).since(start)
    assert served_back.requests == 20 and served_back.feedback == 15


def test_histogram_counts_and_minus() -> None:
    histogram = Histogram((1.0, 2.0, math.inf), (4, 6, 9))
    assert histogram.counts() == (4, 2, 3)
    assert histogram.minus((1, 1, 1)) == Histogram((1.0, 2.0, math.inf), (3, 5, 8))
    assert histogram.minus((5, 5, 5)) is None
    assert histogram.minus((1, 1)) is None


def test_prometheus_answers_become_the_same_snapshots() -> None:
    def vector(*items: tuple[dict[str, str], float]) -> dict[str, object]:
        return {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [{"metric": m, "value": [0, str(v)]} for m, v in items],
            },
        }

    answers = {
        promql.REQUESTS: vector(
            ({"version": "v2", "endpoint": "predict", "outcome": "success"}, 90),
            ({"version": "v2", "endpoint": "predict", "outcome": "server_error"}, 10),
        ),
        promql.DURATION_BUCKET: vector(
            ({"version": "v2", "endpoint": "predict", "le": "0.1"}, 80),
            ({"version": "v2", "endpoint": "predict", "le": "+Inf"}, 100),
        ),
        promql.SCORE_BUCKET: vector(({"version": "v2", "le": "+Inf"}, 100)),
        promql.FEEDBACK: vector(({"version": "v2"}, 4)),
        promql.FEEDBACK_CORRECT: vector(({"version": "v2"}, 3)),
    }
    v2 = promql.snapshots_from_answers(answers)["v2"]
    assert v2.requests == 100 and v2.server_errors == 10
    assert v2.latency == Histogram((0.1, math.inf), (80, 100))
    assert v2.feedback == 4 and v2.feedback_correct == 3


def test_queries_select_the_release_model_and_versions() -> None:
    queries = promql.snapshot_queries(
        "loan-default", ["v1", "v2"], namespace="models", release="loan-default"
    )
    scope = 'namespace="models",release="loan-default",model="loan-default",version=~"v1|v2"'
    # Every built-in query reads the release's own pods only.
    assert queries.keys() == {
        promql.REQUESTS,
        promql.DURATION_BUCKET,
        promql.SCORE_BUCKET,
        promql.FEEDBACK,
        promql.FEEDBACK_CORRECT,
    }
    assert all(scope in query for query in queries.values()), queries
    assert 'endpoint=~"infer|predict"' in queries[promql.DURATION_BUCKET]
    assert queries[promql.SCORE_BUCKET].startswith("sum by (version, le)")


def test_query_values_are_quoted_and_versions_matched_literally() -> None:
    queries = promql.snapshot_queries('say "hi"', ["v1.2", "a|b"], namespace="ns", release='r"\\')
    text = queries[promql.FEEDBACK]
    assert 'model="say \\"hi\\""' in text
    assert 'release="r\\"\\\\"' in text
    # PromQL string "v1\\.2" is the regex v1\.2: a dot, not any character.
    assert 'version=~"v1\\\\.2|a\\\\|b"' in text


def test_custom_queries_get_their_placeholders_filled() -> None:
    from modelrelease_operator.api.release import CustomGate

    gate = CustomGate(
        name="p50",
        query='histogram_quantile(0.5, sum by (le) (rate(x{version="{{candidate}}"}[{{window}}])))',
        max=1,
    )
    text = promql.render_custom(
        gate,
        model="m",
        candidate="v2",
        stable="v1",
        namespace="ns",
        release="r",
        window_seconds=89.2,
    )
    assert 'version="v2"' in text and "[90s]" in text
    scoped = CustomGate(name="n", query='x{namespace="{{namespace}}",release="{{release}}"}', max=1)
    assert (
        promql.render_custom(
            scoped,
            model="m",
            candidate="v2",
            stable="v1",
            namespace="ns",
            release="r",
            window_seconds=1,
        )
        == 'x{namespace="ns",release="r"}'
    )
    assert (
        promql.scalar({"status": "success", "data": {"resultType": "vector", "result": []}}) is None
    )
    assert (
        promql.scalar(
            {"status": "success", "data": {"resultType": "scalar", "result": [0, "0.25"]}}
        )
        == 0.25
    )
