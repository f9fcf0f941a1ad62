"""ModelRelease on a real control plane, judged from real metrics: the Deployments,
Services and HTTPRoute at every stage, a rollback that restores them, a command, a restart,
and how long decisions take.

The operator runs as a process under its ServiceAccount and queries a real Prometheus,
which scrapes a `modelrelease-server` process per model version (tests/realmetrics). kwok
plays the kubelets (the pods become ready but serve nothing), so a load generator plays
the data plane: it sends loan applications to the version the weights the operator
applied (the Deployments' replica shares, or the HTTPRoute's weights) give each request.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import kubernetes
import pytest
from modelrelease_operator.api.release import ModelReleaseSpec, ModelReleaseStatus
from modelrelease_operator.release import routing
from prometheus_client.parser import text_string_to_metric_families

from tests.realmetrics import artifacts
from tests.realmetrics.fixtures import ServingFactory
from tests.realmetrics.prometheus import Prometheus
from tests.realmetrics.routing import ClusterRouting
from tests.realmetrics.serving import Artifact, ServingProcess
from tests.realmetrics.traffic import LoadGenerator

from .running_operator import OperatorProcess
from .waiting import Waiter

GROUP, VERSION, PLURAL = "modelrelease.dev", "v1alpha1", "modelreleases"
RELEASE = "loan-default"
RATE = 20.0  # requests a second (four records each), split by the applied weights
LATENCIES = pytest.StashKey[list[str]]()


def release(
    prometheus: Prometheus,
    store: artifacts.ArtifactStore,
    model: str,
    stable: Artifact,
    candidate: Artifact,
    **spec: Any,
) -> dict[str, Any]:
    """A release of `model` naming both artifacts by their http:// URIs and digests, judged
    from the real Prometheus."""
    document = {
        "modelName": model,
        "stable": named(store, stable),
        "candidate": named(store, candidate),
        "serving": {"replicas": 4},
        "stages": [
            {"weight": 25, "duration": "4s", "minRequests": 10},
            {"weight": 50, "duration": "4s", "minRequests": 10},
            {"weight": 100, "duration": "4s", "minRequests": 10},
        ],
        # The offline comparison is not what these tests check; the online gates are.
        "riskCheck": {"metrics": [{"metric": "roc_auc", "maxDegradation": 1.0}]},
        "analysis": {
            "interval": "1s",
            "provider": {
                "type": "prometheus",
                "prometheus": {"address": prometheus.url, "timeoutSeconds": 5},
            },
            # Latency: generous, two busy shared cores answer in milliseconds but not always.
            "gates": {"errorRate": {"max": 0.05}, "latency": {"maxSeconds": 1.0}},
        },
    }
    document.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelRelease",
        "metadata": {"name": RELEASE},
        "spec": document,
    }


def named(store: artifacts.ArtifactStore, artifact: Artifact) -> dict[str, str]:
    return {
        "artifactUri": store.uri(artifact),
        "digest": artifact.digest,
        "version": artifact.version,
    }


@contextmanager
def traffic(
    api: kubernetes.client.ApiClient,
    namespace: str,
    servers: dict[str, ServingProcess],
    router: str = "replicas",
) -> Iterator[LoadGenerator]:
    """Real requests to the serving processes, split by the weights applied in the cluster
    (re-read every 0.5 s); stopped when the block ends."""
    cluster = ClusterRouting(api, namespace, RELEASE)
    load = LoadGenerator(
        {version: process.url for version, process in servers.items()},
        lambda: cluster.weights(router),
        rate=RATE,
        max_seconds=300,
        max_requests=int(RATE * 300),
        feedback_share=0.0,
    )
    with load:
        yield load
    assert load.error is None, load.error


class Cluster:
    """Reads of one namespace, shaped for assertions."""

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.apps = kubernetes.client.AppsV1Api(api)
        self.core = kubernetes.client.CoreV1Api(api)

    def create(self, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def release(self) -> dict[str, Any]:
        return dict(
            self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, RELEASE
            )
        )

    def status(self) -> dict[str, Any]:
        return dict(self.release().get("status") or {})

    def deployments(self) -> dict[str, tuple[str, int]]:
        """Deployment name → (track, replicas asked for)."""
        found = self.apps.list_namespaced_deployment(self.namespace)
        return {
            d.metadata.name: (d.metadata.labels[routing.TRACK_LABEL], d.spec.replicas)
            for d in found.items
        }

    def selectors(self) -> dict[str, dict[str, str]]:
        found = self.core.list_namespaced_service(self.namespace)
        return {s.metadata.name: dict(s.spec.selector) for s in found.items}

    def route_weights(self) -> tuple[int, int] | None:
        try:
            route = self.custom.get_namespaced_custom_object(
                "gateway.networking.k8s.io", "v1", self.namespace, "httproutes", RELEASE
            )
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return None
            raise
        backends = route["spec"]["rules"][0]["backendRefs"]
        return backends[0]["weight"], backends[1]["weight"]

    def annotate(self, command: str) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            RELEASE,
            {"metadata": {"annotations": {"modelrelease.dev/command": command}}},
        )


def expected_deployments(body: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """What routing asks for, given the release as the API server holds it."""
    spec = ModelReleaseSpec.model_validate(body["spec"])
    status = ModelReleaseStatus.model_validate(body.get("status") or {})
    owner = routing.Owner(RELEASE, body["metadata"]["namespace"], body["metadata"]["uid"])
    return {
        d["metadata"]["name"]: (d["metadata"]["labels"][routing.TRACK_LABEL], d["spec"]["replicas"])
        for d in routing.deployments(spec, status, owner)
    }


def follow(cluster: Cluster, wait: Waiter, until: set[str], timeout: float = 150) -> list[str]:
    """Watch the release until its phase is in `until`; at every change of stage or weight,
    the Deployments must catch up with what status asks for. Returns the states seen."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = cluster.release()
        status = body.get("status") or {}
        where = f"{status.get('phase')} {status.get('stage')} {status.get('candidateWeight')}%"
        if not seen or seen[-1] != where:
            seen.append(where)
            # Against the status as it is when compared: short stages may have moved on.
            wait.until(
                lambda: cluster.deployments() == expected_deployments(cluster.release()),
                what=f"Deployments to match status after {where}",
                timeout=30,
                interval=0.1,
            )
        if status.get("phase") in until:
            return seen
        time.sleep(0.1)
    pytest.fail(f"release did not reach {until}; seen {seen}\n{wait.events()}")


def test_replicas_router_promotes_through_every_stage(
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
    model = "loan-default-promote"
    servers = serving(model, [models.stable, models.good])
    cluster.create(release(prometheus, artifact_store, model, models.stable, models.good))
    with traffic(kube_api, namespace, servers) as load:
        seen = follow(cluster, wait, {"Succeeded", "RolledBack", "Failed"})
    status = cluster.status()
    assert status["phase"] == "Succeeded", (seen, status.get("message"), status.get("gates"))
    assert "Progressing 2/3 50%" in seen and "Progressing 3/3 100%" in seen
    assert cluster.deployments() == {
        "loan-default-v2": ("stable", 4),
        "loan-default-v1": ("previous", 0),
    }
    assert cluster.selectors()[RELEASE] == {"modelrelease.dev/release": RELEASE}
    assert status["stableVersion"] == "v2" and "candidateVersion" not in status
    reasons = [h["reason"] for h in status["history"]]
    assert reasons.count("WeightSet") == 3 and reasons[-1] == "Promoted"
    # Judged from real requests: every gate passed on what the candidate served.
    assert status["gates"] and all(g["verdict"] == "Pass" for g in status["gates"]), status
    served = load.stats.by_version
    assert served["v1"].ok > 0 and served["v2"].ok > 0, served
    # What platform teams chart: the operator's own metrics tell the same story.
    samples = operator_metrics(operator)

    def value(name: str, **labels: str) -> float | None:
        return samples.get((name, tuple(sorted(labels.items()))))

    mine = {"namespace": namespace, "release": RELEASE}
    assert value("modelrelease_operator_decisions_total", **mine, action="promote") == 1, samples
    assert value("modelrelease_operator_candidate_weight_percent", **mine) == 0
    assert (value("modelrelease_operator_releases", phase="Succeeded") or 0) >= 1
    passes = [
        count
        for (name, labels), count in samples.items()
        if name == "modelrelease_operator_gate_verdicts_total"
        and {**mine, "verdict": "Pass"}.items() <= dict(labels).items()
    ]
    assert passes and sum(passes) > 0, samples
    # Each step is an Event on the release, whichever loop of the operator took it.
    events = kubernetes.client.CoreV1Api(kube_api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={RELEASE},involvedObject.kind=ModelRelease"
    )
    told = [e.reason for e in events.items]
    assert told.count("WeightSet") == 3 and "Promoted" in told, told


def operator_metrics(
    operator: OperatorProcess,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The operator's /metrics, parsed: (sample name, sorted labels) → value."""
    with urllib.request.urlopen(
        f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5
    ) as reply:
        text = reply.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_gateway_api_rollback_restores_routes_and_deployments(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    wait: Waiter,
    operator: OperatorProcess,
    prometheus: Prometheus,
    models: artifacts.Models,
    artifact_store: artifacts.ArtifactStore,
    serving: ServingFactory,
    gateway_api: None,
    request: pytest.FixtureRequest,
) -> None:
    cluster = Cluster(kube_api, namespace)
    model = "loan-default-gateway"
    bad = models.bad  # trained on a shifted population: its scores drift on real traffic
    servers = serving(model, [models.stable, bad])
    gateway = {"type": "gateway-api", "gatewayApi": {"parentRefs": [{"name": "public"}]}}
    stages = [
        {"weight": 25, "duration": "60s", "minRequests": 10},
        {"weight": 50, "duration": "60s", "minRequests": 10},
    ]
    gates = {
        "errorRate": {"max": 0.05},
        "latency": {"maxSeconds": 1.0},
        # Trained on the real population: PSI about 0.03 against its reference; trained
        # on the shifted one: about 1.1.
        "drift": {"maxPsi": 0.25, "minPredictions": 80},
    }
    body = release(
        prometheus, artifact_store, model, models.stable, bad, router=gateway, stages=stages
    )
    body["spec"]["analysis"]["gates"] = gates
    cluster.create(body)
    wait.until(lambda: cluster.route_weights() == (75, 25), what="HTTPRoute at 75/25", timeout=120)
    candidate = f"{RELEASE}-{bad.version}"
    assert cluster.deployments() == {
        "loan-default-v1": ("stable", 4),
        candidate: ("candidate", 1),
    }
    selectors = cluster.selectors()
    assert selectors["loan-default-stable"]["modelrelease.dev/version"] == "v1"
    assert selectors["loan-default-candidate"]["modelrelease.dev/version"] == bad.version

    # Traffic starts: the candidate's scores drift from its training reference.
    started = time.monotonic()
    with traffic(kube_api, namespace, servers, "gateway-api") as load:
        status = wait.until(
            lambda: (s := cluster.status()).get("phase") == "RolledBack" and s,
            what="rollback",
            timeout=90,
            interval=0.05,
        )
        decided = time.monotonic() - started
        wait.until(
            lambda: cluster.route_weights() == (100, 0), what="HTTPRoute 100/0", interval=0.05
        )
        restored = time.monotonic() - started

    gate = status["failedGate"]
    assert gate["name"] == "drift" and gate["verdict"] == "Fail", gate
    assert gate["value"] > gate["threshold"] == 0.25
    assert status["candidateWeight"] == 0
    assert load.stats.version(bad.version).ok > 0, load.stats.by_version
    wait.until(
        lambda: (
            cluster.deployments() == {"loan-default-v1": ("stable", 4), candidate: ("candidate", 0)}
        ),
        what="candidate scaled to zero",
    )
    assert cluster.selectors()["loan-default-candidate"]["modelrelease.dev/version"] == "v1"
    report = (
        f"decision latency (real control plane and metrics, interval 1s, 1s scrapes): "
        f"drifting candidate under traffic → RolledBack in status {decided:.2f}s, "
        f"HTTPRoute back to 100/0 after {restored:.2f}s"
    )
    print(report)
    request.config.stash.setdefault(LATENCIES, []).append(report)


def test_abort_command_rolls_back_at_once(
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
    model = "loan-default-abort"
    servers = serving(model, [models.stable, models.good])
    stages = [{"weight": 50, "duration": "10m", "minRequests": 10}]
    cluster.create(
        release(prometheus, artifact_store, model, models.stable, models.good, stages=stages)
    )
    with traffic(kube_api, namespace, servers):
        wait.until(lambda: cluster.status().get("candidateWeight") == 50, what="50%", timeout=120)
        wait.until(lambda: cluster.status().get("window"), what="judging window", timeout=60)
        sent = time.monotonic()
        cluster.annotate("abort")
        status = wait.until(
            lambda: (s := cluster.status()).get("phase") == "RolledBack" and s,
            what="abort",
            interval=0.05,
        )
        decided = time.monotonic() - sent
        assert status["lastCommand"]["command"] == "abort"
        assert "modelrelease.dev/command" not in (
            cluster.release()["metadata"].get("annotations") or {}
        )
        wait.until(
            lambda: (
                cluster.deployments()
                == {"loan-default-v1": ("stable", 4), "loan-default-v2": ("candidate", 0)}
            ),
            what="traffic back on stable",
            interval=0.05,
        )
        restored = time.monotonic() - sent
    print(f"abort → RolledBack in {decided:.2f}s, Deployments restored in {restored:.2f}s")


def test_operator_restart_mid_stage_resumes_the_same_stage(
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
    model = "loan-default-restart"
    servers = serving(model, [models.stable, models.good])
    stages = [
        {"weight": 25, "duration": "8s", "minRequests": 10},
        {"weight": 50, "duration": "4s", "minRequests": 10},
    ]
    cluster.create(
        release(prometheus, artifact_store, model, models.stable, models.good, stages=stages)
    )
    with traffic(kube_api, namespace, servers):
        wait.until(lambda: cluster.status().get("window"), what="stage 1 judged", timeout=120)
        before = cluster.status()
        operator.kill()
        operator.start()
        follow(cluster, wait, {"Succeeded", "RolledBack", "Failed"})
    status = cluster.status()
    assert status["phase"] == "Succeeded", (status.get("message"), status.get("gates"))
    stages_entered = [(h["reason"], h["stage"]) for h in status["history"]]
    # Each stage's weight was set once and each stage passed once: nothing twice.
    assert len(stages_entered) == len(set(stages_entered)), stages_entered
    assert before["history"][0] == status["history"][0]
