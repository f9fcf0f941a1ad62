"""ModelRelease on a real control plane: the Deployments, Services and HTTPRoute at every
stage, a rollback that restores them, a command, and how long decisions take.

The operator runs as a process under its ServiceAccount. kwok plays the kubelets (pods
become ready but serve nothing), so the serving metrics come from a stand-in Prometheus
HTTP API that the operator queries over HTTP as it would the real one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from modelrelease_operator.api.release import ModelReleaseSpec, ModelReleaseStatus
from modelrelease_operator.release import routing

from .fake_prometheus import FakePrometheus, Serving
from .gateway_api import crd_documents
from .running_operator import OperatorProcess
from .waiting import Waiter

GROUP, VERSION, PLURAL = "modelrelease.dev", "v1alpha1", "modelreleases"
FAST, SLOW = 2, 6  # latency buckets: <= 25 ms, <= 500 ms


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    fake = FakePrometheus()
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def gateway_api(kube_api: kubernetes.client.ApiClient) -> None:
    try:
        documents = crd_documents()
    except (OSError, ValueError) as error:
        pytest.skip(f"Gateway API CRDs unavailable: {error}")
    extensions = kubernetes.client.ApiextensionsV1Api(kube_api)
    for crd in documents:
        try:
            extensions.create_custom_resource_definition(crd)
        except kubernetes.client.ApiException as error:
            if error.status != 409:
                raise
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            kubernetes.client.CustomObjectsApi(kube_api).list_cluster_custom_object(
                "gateway.networking.k8s.io", "v1", "httproutes", limit=1
            )
            return
        except kubernetes.client.ApiException:
            time.sleep(0.5)
    pytest.fail("HTTPRoute is not served")


def release(address: str, **spec: Any) -> dict[str, Any]:
    document = {
        "modelName": "loan-default",
        "stable": artifact("v1", "a", 0.86),
        "candidate": artifact("v2", "b", 0.87),
        "serving": {"replicas": 4},
        "stages": [
            {"weight": 25, "duration": "3s", "minRequests": 10},
            {"weight": 50, "duration": "3s", "minRequests": 10},
            {"weight": 100, "duration": "3s", "minRequests": 10},
        ],
        "analysis": {
            "interval": "1s",
            "provider": {"type": "prometheus", "prometheus": {"address": address}},
            "gates": {"errorRate": {"max": 0.05}, "latency": {"maxSeconds": 0.1}},
        },
    }
    document.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelRelease",
        "metadata": {"name": "loan-default"},
        "spec": document,
    }


def artifact(version: str, seed: str, auc: float) -> dict[str, Any]:
    return {
        "artifactUri": f"s3://models/loan-default/{version}",
        "digest": "sha256:" + seed * 64,
        "version": version,
        "metrics": {"roc_auc": auc},
    }


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
                GROUP, VERSION, self.namespace, PLURAL, "loan-default"
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
                "gateway.networking.k8s.io", "v1", self.namespace, "httproutes", "loan-default"
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
            "loan-default",
            {"metadata": {"annotations": {"modelrelease.dev/command": command}}},
        )


def expected_deployments(body: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """What routing asks for, given the release as the API server holds it."""
    spec = ModelReleaseSpec.model_validate(body["spec"])
    status = ModelReleaseStatus.model_validate(body.get("status") or {})
    owner = routing.Owner("loan-default", body["metadata"]["namespace"], body["metadata"]["uid"])
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
    prometheus: FakePrometheus,
) -> None:
    cluster = Cluster(kube_api, namespace)
    prometheus.serve("v1", Serving(rate=40, latency_bucket=FAST))
    prometheus.serve("v2", Serving(rate=20, latency_bucket=FAST))
    cluster.create(release(prometheus.address))
    seen = follow(cluster, wait, {"Succeeded", "RolledBack", "Failed"})
    status = cluster.status()
    assert status["phase"] == "Succeeded", (seen, status.get("message"))
    assert "Progressing 2/3 50%" in seen and "Progressing 3/3 100%" in seen
    assert cluster.deployments() == {
        "loan-default-v2": ("stable", 4),
        "loan-default-v1": ("previous", 0),
    }
    assert cluster.selectors()["loan-default"] == {"modelrelease.dev/release": "loan-default"}
    assert status["stableVersion"] == "v2" and "candidateVersion" not in status
    reasons = [h["reason"] for h in status["history"]]
    assert reasons.count("WeightSet") == 3 and reasons[-1] == "Promoted"


def test_gateway_api_rollback_restores_routes_and_deployments(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    wait: Waiter,
    operator: OperatorProcess,
    prometheus: FakePrometheus,
    gateway_api: None,
    request: pytest.FixtureRequest,
) -> None:
    cluster = Cluster(kube_api, namespace)
    prometheus.serve("v1", Serving(rate=40, latency_bucket=FAST))
    prometheus.serve("v2", Serving(rate=20, latency_bucket=FAST))
    gateway = {"type": "gateway-api", "gatewayApi": {"parentRefs": [{"name": "public"}]}}
    stages = [
        {"weight": 25, "duration": "60s", "minRequests": 10},
        {"weight": 50, "duration": "60s", "minRequests": 10},
    ]
    cluster.create(release(prometheus.address, router=gateway, stages=stages))
    wait.until(lambda: cluster.route_weights() == (75, 25), what="HTTPRoute at 75/25", timeout=120)
    assert cluster.deployments() == {
        "loan-default-v1": ("stable", 4),
        "loan-default-v2": ("candidate", 1),
    }
    selectors = cluster.selectors()
    assert selectors["loan-default-stable"]["modelrelease.dev/version"] == "v1"
    assert selectors["loan-default-candidate"]["modelrelease.dev/version"] == "v2"

    # The candidate slows down: p99 above 100 ms.
    wait.until(lambda: cluster.status().get("window"), what="judging window", timeout=60)
    slowed = time.monotonic()
    prometheus.serve("v2", Serving(rate=20, latency_bucket=SLOW))
    status = wait.until(
        lambda: (s := cluster.status()).get("phase") == "RolledBack" and s,
        what="rollback",
        timeout=60,
        interval=0.05,
    )
    decided = time.monotonic() - slowed
    wait.until(lambda: cluster.route_weights() == (100, 0), what="HTTPRoute 100/0", interval=0.05)
    restored = time.monotonic() - slowed

    gate = status["failedGate"]
    assert gate["name"] == "latency-p99" and gate["verdict"] == "Fail"
    assert gate["value"] > gate["threshold"] == 0.1
    assert status["candidateWeight"] == 0
    wait.until(
        lambda: (
            cluster.deployments()
            == {"loan-default-v1": ("stable", 4), "loan-default-v2": ("candidate", 0)}
        ),
        what="candidate scaled to zero",
    )
    assert cluster.selectors()["loan-default-candidate"]["modelrelease.dev/version"] == "v1"
    report = (
        f"decision latency (real control plane, interval 1s): slow candidate → RolledBack in "
        f"status {decided:.2f}s, HTTPRoute back to 100/0 after {restored:.2f}s"
    )
    print(report)
    request.config.stash.setdefault(LATENCIES, []).append(report)


LATENCIES = pytest.StashKey[list[str]]()


def test_abort_command_rolls_back_at_once(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    wait: Waiter,
    operator: OperatorProcess,
    prometheus: FakePrometheus,
) -> None:
    cluster = Cluster(kube_api, namespace)
    prometheus.serve("v1", Serving(rate=40, latency_bucket=FAST))
    prometheus.serve("v2", Serving(rate=20, latency_bucket=FAST))
    stages = [{"weight": 50, "duration": "10m", "minRequests": 10}]
    cluster.create(release(prometheus.address, stages=stages))
    wait.until(lambda: cluster.status().get("candidateWeight") == 50, what="50%", timeout=120)
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
    print(
        f"abort → RolledBack in {decided:.2f}s, Deployments restored in "
        f"{time.monotonic() - sent:.2f}s"
    )


def test_operator_restart_mid_stage_resumes_the_same_stage(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    wait: Waiter,
    operator: OperatorProcess,
    prometheus: FakePrometheus,
) -> None:
    cluster = Cluster(kube_api, namespace)
    prometheus.serve("v1", Serving(rate=40, latency_bucket=FAST))
    prometheus.serve("v2", Serving(rate=20, latency_bucket=FAST))
    stages = [
        {"weight": 25, "duration": "8s", "minRequests": 10},
        {"weight": 50, "duration": "3s", "minRequests": 10},
    ]
    cluster.create(release(prometheus.address, stages=stages))
    wait.until(lambda: cluster.status().get("window"), what="stage 1 judged", timeout=120)
    before = cluster.status()
    operator.kill()
    operator.start()
    follow(cluster, wait, {"Succeeded", "RolledBack", "Failed"})
    status = cluster.status()
    assert status["phase"] == "Succeeded"
    stages_entered = [(h["reason"], h["stage"]) for h in status["history"]]
    # Each stage's weight was set once and each stage passed once: nothing twice.
    assert len(stages_entered) == len(set(stages_entered)), stages_entered
    assert before["history"][0] == status["history"][0]
