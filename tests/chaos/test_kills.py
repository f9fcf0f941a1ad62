"""kill -9 of the operator right after each transition it records.

The operator writes each decision to status first and changes the cluster after
(docs/releases.md, "Restart safety"). The test watches the release and, as soon as a new
`status.history` entry arrives, SIGKILLs the operator and starts a new one at once: most
kills land between the status write and the apply of the Deployments, the others just
after. Whatever the moment, the rollout must go on from status: each transition exactly
once, in order, and the cluster as the final status says.
"""

from __future__ import annotations

import time

import kubernetes
import pytest

from tests.integration.running_operator import OperatorProcess
from tests.integration.waiting import Waiter
from tests.realmetrics import artifacts
from tests.realmetrics.fixtures import ServingFactory
from tests.realmetrics.prometheus import Prometheus

from .conftest import report
from .harness import (
    RELEASE,
    Cluster,
    Killer,
    announced,
    describe,
    explain,
    manifest,
    roll_out_killing,
    traffic,
    transitions,
)

#: Ten pods: 10/25/50/100 % are 1, 3, 5 and 10 candidate pods, so every transition
#: changes a Deployment (and a kill before its apply leaves the cluster behind status).
REPLICAS = 10
STAGES = [
    {"weight": 10, "duration": "4s", "minRequests": 10},
    {"weight": 25, "duration": "4s", "minRequests": 10},
    {"weight": 50, "duration": "4s", "minRequests": 10},
    {"weight": 100, "duration": "4s", "minRequests": 10},
]
PROMOTION = [
    ("StableDeployed", ""),
    ("RolloutStarted", "1/4"),
    ("WeightSet", "1/4"),
    ("StagePassed", "2/4"),
    ("WeightSet", "2/4"),
    ("StagePassed", "3/4"),
    ("WeightSet", "3/4"),
    ("StagePassed", "4/4"),
    ("WeightSet", "4/4"),
    ("Promoted", "4/4"),
]


def _report(
    config: pytest.Config, title: str, killer: Killer, seconds: float, events: int, of: int
) -> None:
    early = sum(k.before_apply for k in killer.kills)
    recovered = [k.recovered for k in killer.kills if k.recovered is not None]
    worst = f", slowest recovery {max(recovered):.2f}s" if recovered else ""
    report(
        config,
        f"{title}: {len(killer.kills)} kills in {seconds:.0f}s, {early} of them between the "
        f"status write and the apply{worst}; {events} of the {of} transitions have their "
        "Event (a kill before the Event's post loses it)",
    )
    for kill in killer.kills:
        report(config, f"  {kill.line()}")


def _check_kills(killer: Killer, expected: list[tuple[str, str]]) -> None:
    """Every transition was followed by a kill of its own, and the operator came back
    from each kill (or was killed again first, at the next transition)."""
    lines = [k.line() for k in killer.kills]
    assert [k.after for k in killer.kills] == [describe(t) for t in expected], lines
    assert all(k.recovered is not None or k.superseded for k in killer.kills), lines
    assert killer.kills[-1].recovered is not None, lines


def test_kill_after_every_transition_of_a_promotion(
    request: pytest.FixtureRequest,
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    wait: Waiter,
    operator: OperatorProcess,
    prometheus: Prometheus,
    models: artifacts.Models,
    artifact_store: artifacts.ArtifactStore,
    serving: ServingFactory,
) -> None:
    cluster = Cluster(kube_api, namespace)
    servers = serving("loan-default-chaos-promote", [models.stable, models.good])
    body = manifest(
        prometheus,
        artifact_store,
        "loan-default-chaos-promote",
        models.stable,
        models.good,
        stages=STAGES,
        replicas=REPLICAS,
    )
    killer = Killer(operator, cluster)
    began = time.monotonic()
    with traffic(kube_api, namespace, servers) as load:
        cluster.create(body)
        final = roll_out_killing(killer, kube_api, namespace, timeout=300)
    seconds = time.monotonic() - began
    events, repeated = announced(kube_api, namespace, PROMOTION)
    _report(request.config, "promotion, 4 stages", killer, seconds, events, len(PROMOTION))
    status = final.get("status") or {}

    assert status.get("phase") == "Succeeded", explain(status, operator)
    # Each transition once, in order: none skipped, none repeated.
    assert transitions(status) == PROMOTION, explain(status, operator)
    weights = [h["weight"] for h in status["history"] if h["reason"] == "WeightSet"]
    assert weights == [10, 25, 50, 100], explain(status, operator)
    assert not repeated, f"transitions announced twice: {repeated}"
    _check_kills(killer, PROMOTION)
    # The cluster is what the final status says: the candidate is the stable at full size,
    # the old stable scaled to zero (kept for one rollback), and all traffic on it.
    assert status["stableVersion"] == models.good.version and "candidateVersion" not in status
    deployments = {
        f"{RELEASE}-v2": ("stable", REPLICAS),
        f"{RELEASE}-v1": ("previous", 0),
    }
    wait.until(lambda: cluster.deployments() == deployments, what="promoted Deployments")
    wait.until(
        lambda: cluster.ready_pods() == {f"{RELEASE}-v2": REPLICAS, f"{RELEASE}-v1": 0},
        what="ten v2 pods ready, none of v1",
    )
    assert cluster.weights() == {"v2": 1.0}
    served = load.stats.by_version
    assert served["v1"].ok > 0 and served["v2"].ok > 0, served
    operator.wait_live()
    assert operator.alive()


def test_kill_right_after_the_rollback_is_written(
    request: pytest.FixtureRequest,
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    wait: Waiter,
    operator: OperatorProcess,
    prometheus: Prometheus,
    models: artifacts.Models,
    artifact_store: artifacts.ArtifactStore,
    serving: ServingFactory,
) -> None:
    """A candidate trained on a shifted population fails its drift gate; the operator is
    killed after each transition, the RolledBack one included: the restarted one
    completes the rollback (candidate at zero pods, all traffic on stable) and does
    nothing more."""
    cluster = Cluster(kube_api, namespace)
    bad = models.bad  # its scores drift from its training reference on real traffic
    servers = serving("loan-default-chaos-rollback", [models.stable, bad])
    replicas = 4
    body = manifest(
        prometheus,
        artifact_store,
        "loan-default-chaos-rollback",
        models.stable,
        bad,
        stages=[
            {"weight": 25, "duration": "60s", "minRequests": 10},
            {"weight": 50, "duration": "60s", "minRequests": 10},
        ],
        replicas=replicas,
        # Trained on the real population: PSI about 0.03 against its reference; on the
        # shifted one: about 1.1.
        gates={"errorRate": {"max": 0.05}, "drift": {"maxPsi": 0.25, "minPredictions": 80}},
    )
    killer = Killer(operator, cluster)
    began = time.monotonic()
    with traffic(kube_api, namespace, servers):
        cluster.create(body)
        final = roll_out_killing(killer, kube_api, namespace, timeout=240)
        status = final.get("status") or {}
        assert status.get("phase") == "RolledBack", explain(status, operator)
        stable_only = {
            f"{RELEASE}-v1": ("stable", replicas),
            f"{RELEASE}-{bad.version}": ("candidate", 0),
        }
        wait.until(lambda: cluster.deployments() == stable_only, what="candidate scaled to zero")
        wait.until(lambda: cluster.weights() == {"v1": 1.0}, what="all traffic on v1")
        wait.until(
            lambda: (
                cluster.ready_pods() == {f"{RELEASE}-v1": replicas, f"{RELEASE}-{bad.version}": 0}
            ),
            what="four v1 pods ready, none of the candidate",
        )
        # Settled: the restarted operator neither rolls back again nor retries.
        time.sleep(3)
        settled = cluster.status()
    seconds = time.monotonic() - began
    # Two stages short of 100 % imply a third that promotes: hence "1/3".
    expected = [
        ("StableDeployed", ""),
        ("RolloutStarted", "1/3"),
        ("WeightSet", "1/3"),
        ("GateFailed", "1/3"),
    ]
    events, repeated = announced(kube_api, namespace, expected)
    _report(request.config, "drift rollback", killer, seconds, events, len(expected))
    assert transitions(status) == expected, explain(status, operator)
    assert status["history"][-1]["phase"] == "RolledBack"
    assert transitions(settled) == expected and settled["phase"] == "RolledBack", explain(
        settled, operator
    )
    failed = status["failedGate"]
    assert failed["name"] == "drift" and failed["value"] > failed["threshold"], failed
    assert status["candidateWeight"] == 0 and status["rejectedDigest"] == bad.digest
    assert not repeated, f"transitions announced twice: {repeated}"
    # The last kill came right after the RolledBack status was written.
    _check_kills(killer, expected)
    operator.wait_live()
    assert operator.alive()
