"""The harness on its own: Prometheus scraping real serving processes, the weighted load
generator, and the operator's own `prometheus`-provider queries reading what they made."""

from __future__ import annotations

import time
import urllib.request

from modelrelease_operator.release import promql, statistics
from modelrelease_operator.release.observations import VersionSnapshot

from tests.realmetrics import artifacts
from tests.realmetrics.fixtures import ServingFactory
from tests.realmetrics.prometheus import Prometheus
from tests.realmetrics.routing import Weights, replica_weights, route_weights
from tests.realmetrics.traffic import LoadGenerator

from .conftest import latency_summary

MODEL = "loan-default-harness"
#: Where the serving processes' pods would run: the series carry both as target labels.
NAMESPACE, RELEASE = "harness", "loan-default"


def _snapshots(prometheus: Prometheus, versions: list[str]) -> dict[str, VersionSnapshot]:
    """What the operator's prometheus provider would read now."""
    queries = promql.snapshot_queries(MODEL, versions, namespace=NAMESPACE, release=RELEASE)
    answers = {name: prometheus.api("query", query=query) for name, query in queries.items()}
    return promql.snapshots_from_answers(answers)


def _wait_scraped(prometheus: Prometheus, versions: dict[str, int], timeout: float = 20) -> None:
    """Until Prometheus holds each version's final request count (a scrape after the end)."""
    deadline = time.monotonic() + timeout
    while True:
        found = _snapshots(prometheus, list(versions))
        if all(found.get(v) and found[v].requests == n for v, n in versions.items()):
            return
        assert time.monotonic() < deadline, (found, versions)
        time.sleep(0.5)


def test_weighted_traffic_reaches_prometheus(
    prometheus: Prometheus, models: artifacts.Models, serving: ServingFactory
) -> None:
    servers = serving(MODEL, [models.stable, models.bad], namespace=NAMESPACE)
    weights: Weights = {"v1": 0.75, "v3-shifted": 0.25}
    load = LoadGenerator(
        {v: p.url for v, p in servers.items()},
        lambda: weights,
        rate=40,
        max_seconds=60,
        max_requests=400,
        records_per_request=4,
        feedback_share=1.0,
    )
    with load:
        deadline = time.monotonic() + 60
        while load.running() and time.monotonic() < deadline:
            time.sleep(0.2)
    assert load.error is None, load.error
    stats = load.stats
    assert stats.stop_reason == "request bound (400)"
    stable, candidate = stats.by_version["v1"], stats.by_version["v3-shifted"]
    assert stable.errors == candidate.errors == 0
    # 400 draws at 75/25: the candidate's share is within 0.25 ± 5 standard deviations.
    assert 0.14 < candidate.requests / stats.requests < 0.36

    _wait_scraped(prometheus, {"v1": stable.ok, "v3-shifted": candidate.ok})
    found = _snapshots(prometheus, ["v1", "v3-shifted"])
    for version, sent in (("v1", stable), ("v3-shifted", candidate)):
        snapshot = found[version]
        assert snapshot.server_errors == 0
        assert snapshot.scores.total == sent.records
        assert snapshot.latency.total == sent.ok
        assert snapshot.feedback == sent.feedback_accepted > 0
        # Online accuracy of a decent model on its labels.
        assert snapshot.feedback_correct / snapshot.feedback > 0.6

    # The shift-trained model's scores on real traffic differ from the stable's: the
    # relative drift gate will see it (PSI about 1.1, where 0.2 already means "shifted").
    psi = statistics.psi(found["v1"].scores.counts(), found["v3-shifted"].scores.counts())
    assert psi > 0.6, psi


def test_good_candidate_scores_like_stable(
    prometheus: Prometheus, models: artifacts.Models, serving: ServingFactory
) -> None:
    servers = serving(MODEL, [models.stable, models.good], namespace=NAMESPACE)
    load = LoadGenerator(
        {v: p.url for v, p in servers.items()},
        lambda: {"v1": 0.5, "v2": 0.5},
        rate=40,
        max_seconds=60,
        max_requests=300,
        feedback_share=0.0,
    )
    with load:
        while load.running():
            time.sleep(0.2)
    assert load.error is None, load.error
    by = load.stats.by_version
    _wait_scraped(prometheus, {"v1": by["v1"].ok, "v2": by["v2"].ok})
    found = _snapshots(prometheus, ["v1", "v2"])
    # Two models of one population: on a few hundred scores each, bucket noise alone
    # gives a PSI around 0.1, far below the shifted model's (about 1.1).
    psi = statistics.psi(found["v1"].scores.counts(), found["v2"].scores.counts())
    assert psi < 0.35, psi


def test_load_generator_follows_weight_changes_and_stops_by_itself(
    prometheus: Prometheus, models: artifacts.Models, serving: ServingFactory
) -> None:
    servers = serving(MODEL, [models.stable, models.good], namespace=NAMESPACE)
    switch_at = time.monotonic() + 2.0

    def weights() -> Weights:
        return {"v1": 1.0} if time.monotonic() < switch_at else {"v2": 1.0}

    load = LoadGenerator(
        {v: p.url for v, p in servers.items()}, weights, rate=30, max_seconds=5, refresh=0.5
    )
    with load:
        time.sleep(7)
        assert not load.running()
    assert load.error is None, load.error
    assert load.stats.stop_reason == "time bound (5s)"
    changes = load.stats.weight_changes
    assert [w for _, w in changes] == [{"v1": 1.0}, {"v2": 1.0}]
    # Seen within one refresh period (plus scheduling slack on busy cores).
    assert changes[1][0] - (changes[0][0] + 2.0) < 1.5
    assert load.stats.by_version["v1"].requests > 0 < load.stats.by_version["v2"].requests


def test_prometheus_is_private_and_ready(prometheus: Prometheus) -> None:
    with urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=5) as answer:
        assert answer.status == 200
    assert prometheus.url.startswith("http://127.0.0.1:")
    assert prometheus.query("vector(1)") == [({}, 1.0)]


def test_weights_from_routing_objects() -> None:
    def deployment(version: str, replicas: int, env: bool = True) -> dict[str, object]:
        container: dict[str, object] = {"name": "server"}
        labels = {}
        if env:
            container["env"] = [{"name": "MODELRELEASE_SERVER_MODEL_VERSION", "value": version}]
        else:
            labels["app.kubernetes.io/version"] = version
        return {
            "spec": {
                "replicas": replicas,
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            }
        }

    assert replica_weights([deployment("v1", 3), deployment("v2", 1, env=False)]) == {
        "v1": 0.75,
        "v2": 0.25,
    }
    assert replica_weights([deployment("v1", 2), deployment("v2", 0)]) == {"v1": 1.0}
    assert replica_weights([deployment("v1", 0)]) == {}

    services = {
        "m-stable": {"spec": {"selector": {"app.kubernetes.io/version": "v1"}}},
        "m-candidate": {"metadata": {"labels": {"modelrelease.dev/version": "v2"}}},
    }
    route = {
        "spec": {
            "rules": [
                {
                    "backendRefs": [
                        {"name": "m-stable", "weight": 90},
                        {"name": "m-candidate", "weight": 10},
                    ]
                }
            ]
        }
    }
    assert route_weights(route, services) == {"v1": 0.9, "v2": 0.1}


def test_latency_summary_line() -> None:
    assert latency_summary([1.0, 3.0, 2.0]) == (
        "e2e decision latency: median 2.00 s, max 3.00 s over 3 decisions"
    )
