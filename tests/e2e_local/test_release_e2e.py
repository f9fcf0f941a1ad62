"""Two releases end to end with real metrics: a good candidate promoted to 100%, and a
shift-trained one rolled back on its drift, with the operator's decision latency.

Per scenario: a serving process per version, scraped every second by a real Prometheus;
a load generator sending loan applications (and later their true labels) to the version
that the Deployments' replica shares give it; the operator, as its ServiceAccount, on the
real control plane, judging the candidate from Prometheus and moving the weights.
"""

from __future__ import annotations

import time
from typing import Any

import kubernetes
import pytest
from modelrelease_operator.api import GROUP, VERSION

from tests.integration.running_operator import OperatorProcess
from tests.integration.waiting import Waiter
from tests.realmetrics import artifacts, routing
from tests.realmetrics.fixtures import ServingFactory
from tests.realmetrics.prometheus import Prometheus
from tests.realmetrics.routing import ClusterRouting
from tests.realmetrics.serving import Artifact
from tests.realmetrics.traffic import LoadGenerator

from .conftest import note, record_latency
from .scenario import PLURAL, Observer, decisions, manifest, parse_time

RELEASE = "loan-default"
REPLICAS = 4  # the replicas router gives 25/50/100% exactly with four pods
#: Short stages: a few seconds fill each window's minimum counts at this traffic.
STAGES = [
    {"weight": 25, "duration": "12s", "minRequests": 30},
    {"weight": 50, "duration": "12s", "minRequests": 30},
    {"weight": 100, "duration": "10s", "minRequests": 30},
]
RATE = 30.0  # requests per second, four records each
SCENARIO_SECONDS = 200.0


def _release(api: kubernetes.client.ApiClient, namespace: str) -> dict[str, Any]:
    found: dict[str, Any] = kubernetes.client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, RELEASE
    )
    return found


def _start(
    api: kubernetes.client.ApiClient,
    namespace: str,
    prometheus: Prometheus,
    store: artifacts.ArtifactStore,
    servers: dict[str, Any],
    model: str,
    stable: Artifact,
    candidate: Artifact,
    router: str,
) -> tuple[dict[str, Any], Observer, LoadGenerator]:
    body = manifest(
        RELEASE,
        model,
        stable=stable,
        candidate=candidate,
        uri={a.version: store.uri(a) for a in (stable, candidate)},
        prometheus=prometheus,
        stages=STAGES,
        replicas=REPLICAS,
        router=router,
    )
    kubernetes.client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body
    )
    observer = Observer(api, namespace, RELEASE, router).__enter__()
    cluster = ClusterRouting(api, namespace, RELEASE)
    load = LoadGenerator(
        {v: p.url for v, p in servers.items()},
        lambda: cluster.weights(router),  # re-read every 0.5 s
        rate=RATE,
        max_seconds=SCENARIO_SECONDS + 30,
        max_requests=int(RATE * (SCENARIO_SECONDS + 30)),
        records_per_request=4,
        feedback_share=0.5,
    ).start()
    return body["spec"], observer, load


def _history(status: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(h["phase"], h["reason"], h["weight"]) for h in status.get("history", [])]


def _explain(observer: Observer, load: LoadGenerator) -> str:
    last = observer.latest
    status = last.status if last else {}
    return (
        f"phase {status.get('phase')}: {status.get('message')}\n"
        f"gates: {status.get('gates')}\nhistory: {_history(status)}\n"
        f"weights seen: {load.stats.weight_changes}\n"
        f"traffic: {load.stats.by_version} (error: {load.error!r})"
    )


ROUTERS = pytest.mark.parametrize("router", ["replicas", "gateway-api"])


def _router_ready(request: pytest.FixtureRequest, router: str) -> None:
    if router == "gateway-api":
        request.getfixturevalue("gateway_api")


@ROUTERS
def test_good_candidate_is_promoted_to_full_traffic(
    router: str,
    request: pytest.FixtureRequest,
    kube_api: kubernetes.client.ApiClient,
    operator: OperatorProcess,
    namespace: str,
    wait: Waiter,
    prometheus: Prometheus,
    models: artifacts.Models,
    artifact_store: artifacts.ArtifactStore,
    serving: ServingFactory,
) -> None:
    _router_ready(request, router)
    model = "loan-default-good"
    servers = serving(model, [models.stable, models.good], namespace=namespace, release=RELEASE)
    began = time.monotonic()
    spec, observer, load = _start(
        kube_api,
        namespace,
        prometheus,
        artifact_store,
        servers,
        model,
        models.stable,
        models.good,
        router,
    )
    try:
        wait.until(
            lambda: (
                (_release(kube_api, namespace).get("status") or {}).get("phase")
                in {"Succeeded", "RolledBack", "Failed"}
            ),
            what="the release to finish",
            timeout=SCENARIO_SECONDS,
        )
        status = _release(kube_api, namespace)["status"]
        assert status["phase"] == "Succeeded", _explain(observer, load)
        # All traffic on the new version, as the Deployments (or the route) give it.
        wait.until(
            lambda: ClusterRouting(kube_api, namespace, RELEASE).weights(router) == {"v2": 1.0},
            what="all traffic routed to v2",
            timeout=30,
        )
        time.sleep(2)  # the load generator reads the weights every 0.5 s
    finally:
        load.stop()
        observer.__exit__()
    elapsed = time.monotonic() - began

    assert load.error is None, load.error
    assert status["stableVersion"] == "v2"
    assert status["stable"]["digest"] == models.good.digest
    assert status["previous"]["version"] == "v1"
    history = _history(status)
    # Each stage's weight applied in turn (a stale stage start left in status would skip
    # the weights and promote from 25%).
    weights_set = [w for _, reason, w in history if reason == "WeightSet"]
    assert weights_set[-3:] == [25, 50, 100], "\n".join(map(str, status["history"]))
    assert history[-1][:2] == ("Succeeded", "Promoted")
    assert status["gates"] and all(g["verdict"] == "Pass" for g in status["gates"]), status
    # Real traffic reached both versions and the last weights routed all of it to v2.
    by = load.stats.by_version
    assert by["v1"].ok > 0 and by["v2"].ok > 0, by
    assert all(stats.errors == 0 for stats in by.values()), by
    assert load.stats.weight_changes[-1][1] == {"v2": 1.0}

    found = decisions(observer, spec, candidate="v2", stable="v1")
    assert [d.what for d in found] == [
        "stage 1/3 → 50%",
        "stage 2/3 → 100%",
        "stage 3/3 → promoted",
    ]
    for decision in found:
        record_latency(request.config, f"good, {router}: {decision.what}", decision.latency)
        # Two analysis intervals plus writes, on two busy cores.
        assert decision.latency < 15, found
    note(
        request.config,
        f"good candidate, {router} router: Succeeded in {elapsed:.0f}s; requests "
        f"{by['v1'].ok} on v1, {by['v2'].ok} on v2; {len(observer.samples)} observations",
    )


@ROUTERS
def test_drifting_candidate_is_rolled_back(
    router: str,
    request: pytest.FixtureRequest,
    kube_api: kubernetes.client.ApiClient,
    operator: OperatorProcess,
    namespace: str,
    wait: Waiter,
    prometheus: Prometheus,
    models: artifacts.Models,
    artifact_store: artifacts.ArtifactStore,
    serving: ServingFactory,
) -> None:
    _router_ready(request, router)
    model = "loan-default-bad"
    bad = models.bad.version
    servers = serving(model, [models.stable, models.bad], namespace=namespace, release=RELEASE)
    began = time.monotonic()
    _, observer, load = _start(
        kube_api,
        namespace,
        prometheus,
        artifact_store,
        servers,
        model,
        models.stable,
        models.bad,
        router,
    )
    try:
        wait.until(
            lambda: (
                (_release(kube_api, namespace).get("status") or {}).get("phase")
                in {"Succeeded", "RolledBack", "Failed"}
            ),
            what="the release to finish",
            timeout=SCENARIO_SECONDS,
        )
        status = _release(kube_api, namespace)["status"]
        assert status["phase"] == "RolledBack", _explain(observer, load)
        restored: float = wait.until(
            lambda: (
                observer.first_seen(0, lambda s: s.status.get("phase") == "RolledBack")
                and observer.first_seen(
                    0,
                    lambda s: s.status.get("phase") == "RolledBack" and s.weights == {"v1": 1.0},
                )
            ),
            what="the weights back at 100% stable",
            timeout=30,
        )
        # Traffic after the rollback became visible goes to stable only.
        time.sleep(1.0)
        candidate_before = load.stats.version(bad).requests
        time.sleep(3.0)
        candidate_after = load.stats.version(bad).requests
    finally:
        load.stop()
        observer.__exit__()
    elapsed = time.monotonic() - began

    assert load.error is None, load.error
    # Status names the failing gate, its value and its threshold.
    failed = status["failedGate"]
    assert failed["name"] in {"drift", "relative-drift"}, failed
    assert failed["verdict"] == "Fail"
    assert failed["value"] > failed["threshold"], failed
    assert failed["name"] in status["message"], status["message"]
    assert status["history"][-1]["reason"] == "GateFailed"
    assert status["candidateWeight"] == 0
    assert status["rejectedDigest"] == models.bad.digest
    assert status["stableVersion"] == "v1"
    # The Deployments: stable at full size, the candidate at none (the route, for the
    # gateway-api router, is what `restored` above saw at 100% stable).
    apps = kubernetes.client.AppsV1Api(kube_api)
    sizes = {
        routing.deployment_version(apps.api_client.sanitize_for_serialization(d)): d.spec.replicas
        for d in apps.list_namespaced_deployment(namespace).items
    }
    assert sizes.get("v1") == REPLICAS and not sizes.get(bad), sizes
    assert candidate_after == candidate_before, (candidate_before, candidate_after)
    by = load.stats.by_version
    assert by[bad].ok > 0, by

    # How fast the rollback followed the failing check (status times are whole seconds).
    checked = parse_time(status["history"][-1]["time"])
    record_latency(
        request.config, f"bad, {router}: rollback after the failing check", restored - checked
    )
    note(
        request.config,
        f"bad candidate, {router} router: RolledBack in {elapsed:.0f}s by gate {failed['name']} "
        f"(value {failed['value']:.3g} > threshold {failed['threshold']:g}); "
        f"requests {by['v1'].ok} on v1, {by[bad].ok} on {bad}",
    )
