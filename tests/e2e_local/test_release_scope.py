"""The operator's built-in PromQL on a real Prometheus reads its own release only: two
releases of one model name, in two namespaces (and a second release beside the first),
never add up; and a label counts for the version that predicted, whichever of the
release's pods it reached."""

from __future__ import annotations

import time
from typing import Any

import httpx
from modelrelease_operator.release import promql
from modelrelease_operator.release.observations import VersionSnapshot

from tests.realmetrics import artifacts
from tests.realmetrics.fixtures import ServingFactory
from tests.realmetrics.prometheus import Prometheus
from tests.realmetrics.traffic import loan_records

MODEL = "loan-default-scope"


def snapshots(prometheus: Prometheus, namespace: str, release: str) -> dict[str, VersionSnapshot]:
    """What the operator's prometheus provider reads for that release."""
    queries = promql.snapshot_queries(MODEL, ["v1", "v2"], namespace=namespace, release=release)
    answers = {name: prometheus.api("query", query=query) for name, query in queries.items()}
    return promql.snapshots_from_answers(answers)


def counts(found: dict[str, VersionSnapshot]) -> dict[str, tuple[float, float, float]]:
    """version → (requests, feedback, correct feedback)."""
    return {v: (s.requests, s.feedback, s.feedback_correct) for v, s in sorted(found.items())}


def test_queries_see_only_their_release_and_labels_count_where_predicted(
    prometheus: Prometheus, models: artifacts.Models, serving: ServingFactory
) -> None:
    team_a = serving(MODEL, [models.stable, models.good], namespace="team-a")
    team_b = serving(MODEL, [models.stable, models.good], namespace="team-b")
    beside = serving(MODEL, [models.stable], namespace="team-a", release="loan-default-canary")
    records = loan_records(60, seed=3)

    def predict(url: str, n: int) -> list[tuple[dict[str, Any], int]]:
        """n single-record predictions: (prediction, true label) each."""
        out = []
        for record, label in records[:n]:
            answer = httpx.post(f"{url}/predict", json=record, timeout=10)
            assert answer.status_code == 200, answer.text
            out.append((answer.json()["predictions"][0], label))
        return out

    a_v1 = predict(team_a["v1"].url, 7)
    predict(team_a["v2"].url, 3)
    b_v1 = predict(team_b["v1"].url, 11)
    predict(team_b["v2"].url, 5)
    predict(beside["v1"].url, 13)
    labels = [{"feedback_id": p["feedback_id"], "label": truth} for p, truth in a_v1]
    correct = sum(p["label"] == truth for p, truth in a_v1)
    # team-a's v1 labels reach team-a's v2 process: they count for v1.
    sent = httpx.post(f"{team_a['v2'].url}/feedback", json=labels, timeout=10).json()
    assert sent == {"accepted": 7, "unknown": 0}
    # The same labels at the other namespace's release: another key, unknown there.
    elsewhere = httpx.post(f"{team_b['v2'].url}/feedback", json=labels, timeout=10).json()
    assert elsewhere == {"accepted": 0, "unknown": 7}
    assert b_v1  # team-b's predictions get no labels

    wanted = {
        ("team-a", "loan-default"): {"v1": (7, 7, correct), "v2": (3, 0, 0)},
        ("team-b", "loan-default"): {"v1": (11, 0, 0), "v2": (5, 0, 0)},
        ("team-a", "loan-default-canary"): {"v1": (13, 0, 0)},
    }
    deadline = time.monotonic() + 30
    while True:
        seen = {scope: counts(snapshots(prometheus, *scope)) for scope in wanted}
        if seen == wanted:
            break
        assert time.monotonic() < deadline, seen
        time.sleep(0.5)
    # Without the scope the three releases' v1 would add up: the test would notice.
    everything = prometheus.query(
        f'sum(modelrelease_requests_total{{model="{MODEL}",version="v1",endpoint="predict"}})'
    )
    assert everything == [({}, 31.0)]
