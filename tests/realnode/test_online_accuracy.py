"""Online accuracy through a Service, with many pods and workers, on the real node.

One release at its first stage: two pods of the stable version and two of the
candidate behind the release's one Service, each pod running two server workers
(`MODELRELEASE_SERVER_WORKERS=2`, prometheus multiprocess mode). Predictions go through
the Service, and then every true label, by the prediction's feedback id, also through
the Service: kube-proxy hands each to any pod of either version, any worker. The
accuracy the operator's `scrape` provider reads (every pod's /metrics through the API
server's pod proxy, summed by `parse_exposition`) must be exactly the accuracy computed
here from the same labels and the predictions returned: no label lost, each counted for
the version that made the prediction.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import kubernetes
import pytest
from modelrelease_operator.api import GROUP, VERSION
from modelrelease_operator.release.observations import parse_exposition
from modelrelease_operator.release.routing import VERSION_LABEL
from prometheus_client.parser import text_string_to_metric_families

from tests.controlplane.cluster import ControlPlane
from tests.integration.fixtures import report
from tests.realmetrics.traffic import loan_records

from . import deploy, releases
from .conftest import operator_log, waiter
from .traffic import answers

NAME = "online-accuracy"
MODEL = "loan-default"
STABLE, CANDIDATE = "loan-default-v1", "loan-default-v2"
PREDICTIONS = 400


@pytest.fixture(scope="module")
def trained(
    real_cluster: ControlPlane, real_api: kubernetes.client.ApiClient, store_namespace: str
) -> None:
    """The two example trainings, applied as written and Succeeded."""
    for file in ("training-loan-default.yaml", "training-loan-default-v2.yaml"):
        deploy.kubectl(
            real_cluster, "apply", "-n", store_namespace, "-f", str(deploy.EXAMPLES / file)
        )
    custom = kubernetes.client.CustomObjectsApi(real_api)

    def finished(name: str) -> dict[str, Any] | None:
        found = custom.get_namespaced_custom_object(
            GROUP, VERSION, store_namespace, "modeltrainings", name
        )
        status: dict[str, Any] = found.get("status") or {}
        return status if status.get("phase") in ("Succeeded", "Failed", "Rejected") else None

    wait = waiter(real_cluster, real_api, store_namespace)
    for name in (STABLE, CANDIDATE):
        status = wait.until(
            lambda name=name: finished(name),
            what=f"ModelTraining {name} finished",
            timeout=600,
            interval=2,
        )
        assert status["phase"] == "Succeeded", status


def release_manifest() -> dict[str, Any]:
    """The example release held at 50 %: 2 pods per version, 2 workers per pod. The stage
    never gets enough requests to be judged, so nothing moves while the test runs."""
    release = releases.manifest(NAME, {"training": CANDIDATE})
    spec = release["spec"]
    spec["serving"]["replicas"] = 4
    spec["serving"]["env"] = [{"name": "MODELRELEASE_SERVER_WORKERS", "value": "2"}]
    # Two workers, each with its own model copy.
    spec["serving"]["resources"]["memoryLimit"] = "1Gi"
    spec["stages"] = [{"weight": 50, "duration": "30m", "minRequests": 1_000_000}]
    return release


def serving_pods(api: kubernetes.client.ApiClient, namespace: str) -> list[Any]:
    pods = kubernetes.client.CoreV1Api(api).list_namespaced_pod(
        namespace, label_selector=f"modelrelease.dev/release={NAME}"
    )
    return [p for p in pods.items if p.metadata.deletion_timestamp is None]


def ready_per_version(api: kubernetes.client.ApiClient, namespace: str) -> Counter[str]:
    ready: Counter[str] = Counter()
    for pod in serving_pods(api, namespace):
        statuses = pod.status.container_statuses or []
        if statuses and all(c.ready for c in statuses):
            ready[pod.metadata.labels[VERSION_LABEL]] += 1
    return ready


def scrape(api: kubernetes.client.ApiClient, namespace: str, port: int) -> dict[str, str]:
    """Every serving pod's /metrics through the API server's pod proxy, as the operator's
    `scrape` provider reads them: pod name → text."""
    core = kubernetes.client.CoreV1Api(api)
    return {
        pod.metadata.name: core.connect_get_namespaced_pod_proxy_with_path(
            f"{pod.metadata.name}:{port}", namespace, "metrics", _request_timeout=10
        )
        for pod in serving_pods(api, namespace)
    }


def post(url: str, path: str, body: Any) -> httpx.Response:
    """One request on a new connection: kube-proxy picks a pod for each."""
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(timeout=10, limits=limits) as client:
        return client.post(f"{url}{path}", json=body)


def test_every_label_through_the_service_counts_for_the_version_that_predicted(
    request: pytest.FixtureRequest,
    real_cluster: ControlPlane,
    real_api: kubernetes.client.ApiClient,
    store_namespace: str,
    trained: None,
) -> None:
    release = release_manifest()
    releases.apply(real_cluster, store_namespace, release)
    wait = waiter(real_cluster, real_api, store_namespace)
    wait.until(
        lambda: ready_per_version(real_api, store_namespace) == {STABLE: 2, CANDIDATE: 2},
        what="two ready pods of each version",
        timeout=420,
        interval=2,
    )
    status = releases.status(real_api, store_namespace, NAME)
    assert status.get("phase") == "Progressing" and status.get("candidateWeight") == 50, status
    # Both versions' pods sign and check feedback ids with the release's key.
    uid = kubernetes.client.CustomObjectsApi(real_api).get_namespaced_custom_object(
        GROUP, VERSION, store_namespace, releases.PLURAL, NAME
    )["metadata"]["uid"]
    deployments = kubernetes.client.AppsV1Api(real_api).list_namespaced_deployment(
        store_namespace, label_selector=f"modelrelease.dev/release={NAME}"
    )
    for deployment in deployments.items:
        env = {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}
        assert env["MODELRELEASE_SERVER_FEEDBACK_KEY"] == uid, deployment.metadata.name
        assert env["MODELRELEASE_SERVER_WORKERS"] == "2"
    url = wait.until(
        lambda: releases.service_url(real_api, store_namespace, NAME), what="the release Service"
    )
    wait.until(lambda: answers(url), what="the Service answering", timeout=60)
    port = release["spec"]["serving"].get("port", 8080)
    before = parse_exposition(scrape(real_api, store_namespace, port).values(), MODEL)

    # Predictions through the Service; what came back, with the true label.
    records = loan_records(PREDICTIONS, seed=11)
    lock = threading.Lock()
    made: list[tuple[str, Any, int, str]] = []  # (version, predicted, truth, feedback id)

    def predict(item: tuple[dict[str, Any], int]) -> None:
        record, truth = item
        answer = post(url, "/predict", record)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        (prediction,) = body["predictions"]
        assert answer.headers["x-feedback-id"] == prediction["feedback_id"]
        with lock:
            made.append((body["version"], prediction["label"], truth, prediction["feedback_id"]))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(predict, records))
    served = Counter(version for version, *_ in made)
    assert set(served) == {STABLE, CANDIDATE} and min(served.values()) >= 0.25 * PREDICTIONS

    # Every label through the Service, one per request: any pod, any worker, any version.
    def label(item: tuple[str, Any, int, str]) -> None:
        _, _, truth, feedback_id = item
        answer = post(url, "/feedback", {"feedback_id": feedback_id, "label": truth})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"accepted": 1, "unknown": 0}, answer.text

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(label, made))

    pods = serving_pods(real_api, store_namespace)
    texts = scrape(real_api, store_namespace, port)
    assert len(texts) == 4, sorted(texts)
    for pod in pods:  # each pod really runs two workers (uvicorn logs each one's start)
        log = kubernetes.client.CoreV1Api(real_api).read_namespaced_pod_log(
            pod.metadata.name, store_namespace
        )
        assert log.count("Started server process") == 2, log
    seen = parse_exposition(texts.values(), MODEL)
    lines = []
    for version in (STABLE, CANDIDATE):
        total = sum(1 for v, *_ in made if v == version)
        correct = sum(1 for v, predicted, truth, _ in made if v == version and predicted == truth)
        now, then = seen[version], before.get(version)
        counted = now.feedback - (then.feedback if then else 0)
        right = now.feedback_correct - (then.feedback_correct if then else 0)
        lines.append(
            f"{version}: {total} predictions, online accuracy {right:.0f}/{counted:.0f} "
            f"(offline {correct}/{total})"
        )
        assert (counted, right) == (total, correct), lines
        assert right / counted == correct / total
    # The labels really crossed versions: pods counted the other version's predictions.
    versions = {p.metadata.name: p.metadata.labels[VERSION_LABEL] for p in pods}
    crossed = [
        sum(s.feedback for v, s in parse_exposition([text], MODEL).items() if v != versions[pod])
        for pod, text in texts.items()
    ]
    assert sum(crossed) > 0, crossed
    unknown = sum(
        sample.value
        for text in texts.values()
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "modelrelease_feedback_unknown_total"
    )
    assert unknown == 0, unknown
    report(
        request.config,
        "real node online accuracy through the Service (2 pods x 2 workers per version): "
        + "; ".join(lines)
        + f"; labels counted on a pod of the other version, per pod: {crossed}",
    )
    assert releases.status(real_api, store_namespace, NAME).get("phase") == "Progressing", (
        operator_log(real_cluster)
    )
