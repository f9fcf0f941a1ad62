"""What a user installs, running for real: the operator Deployment from
`kubectl apply -k manifests/`, training Jobs running the trainer image and writing to
the examples' S3 store, releases whose serving pods run the server image, judged by the
default `scrape` provider through the API server's pod proxy while traffic goes
through the release's Service (kube-proxy)."""

from __future__ import annotations

import base64
from typing import Any

import fsspec
import kubernetes
import pytest
import yaml
from modelrelease_operator.api import GROUP, VERSION
from modelrelease_operator.release.routing import effective_weight
from modelrelease_trainer import artifacts

from tests.controlplane.cluster import ControlPlane
from tests.e2e_local import scenario
from tests.integration.fixtures import report
from tests.integration.waiting import Waiter

from . import deploy, releases
from .conftest import operator_log, waiter
from .traffic import ServiceTraffic, answers

TRAININGS = "modeltrainings"


def custom(api: kubernetes.client.ApiClient) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(api)


def training_status(api: kubernetes.client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    found = custom(api).get_namespaced_custom_object(GROUP, VERSION, namespace, TRAININGS, name)
    status: dict[str, Any] = found.get("status") or {}
    return status


def wait_training(
    wait: Waiter, api: kubernetes.client.ApiClient, namespace: str, name: str
) -> dict[str, Any]:
    return wait.until(
        lambda: (
            (s := training_status(api, namespace, name)).get("phase")
            in ("Succeeded", "Failed", "Rejected")
            and s
        ),
        what=f"ModelTraining {name} finished",
        timeout=600,
        interval=2,
    )


@pytest.fixture(scope="module")
def trained(
    real_cluster: ControlPlane, real_api: kubernetes.client.ApiClient, store_namespace: str
) -> dict[str, dict[str, Any]]:
    """The two example trainings, applied as written; their statuses once finished."""
    for file in ("training-loan-default.yaml", "training-loan-default-v2.yaml"):
        deploy.kubectl(
            real_cluster, "apply", "-n", store_namespace, "-f", str(deploy.EXAMPLES / file)
        )
    wait = waiter(real_cluster, real_api, store_namespace)
    return {
        name: wait_training(wait, real_api, store_namespace, name)
        for name in ("loan-default-v1", "loan-default-v2")
    }


def test_the_operator_runs_as_the_installed_deployment(
    real_cluster: ControlPlane, deployed: dict[str, Any]
) -> None:
    manifest = next(
        d
        for d in yaml.safe_load_all((deploy.REPO / "manifests" / "operator.yaml").read_text())
        if d["kind"] == "Deployment"
    )
    (wanted,) = manifest["spec"]["template"]["spec"]["containers"]
    (running,) = deployed["spec"]["containers"]
    assert running["image"] == wanted["image"]
    assert running["args"] == wanted["args"]
    assert deployed["spec"]["serviceAccountName"] == "modelrelease-operator"
    assert real_cluster.real_node is not None
    assert deployed["spec"]["nodeName"] == real_cluster.real_node.name
    assert running["securityContext"]["readOnlyRootFilesystem"] is True


def test_trainings_run_the_trainer_image_and_store_in_s3(
    real_cluster: ControlPlane,
    real_api: kubernetes.client.ApiClient,
    store_namespace: str,
    trained: dict[str, dict[str, Any]],
) -> None:
    core = kubernetes.client.CoreV1Api(real_api)
    secret = core.read_namespaced_secret("model-store", store_namespace)
    keys = {k: base64.b64decode(v).decode() for k, v in secret.data.items()}
    for name, status in trained.items():
        assert status["phase"] == "Succeeded", status
        assert status["metrics"]["roc_auc"] >= 0.8
        uri = status["artifact"]["uri"]
        assert uri == f"s3://models/loan-default/{name}"
        pods = core.list_namespaced_pod(
            store_namespace, label_selector=f"modelrelease.dev/training={name}"
        ).items
        assert pods and all(p.spec.node_name == real_cluster.real_node.name for p in pods)  # type: ignore[union-attr]
        # The store, read from this host through the Service's ClusterIP (kube-proxy).
        fs, root = fsspec.core.url_to_fs(
            uri,
            key=keys["AWS_ACCESS_KEY_ID"],
            secret=keys["AWS_SECRET_ACCESS_KEY"],
            endpoint_url=keys["AWS_ENDPOINT_URL"],
        )
        stored = {name: fs.cat(f"{root}/{name}") for name in artifacts.COVERED_FILES}
        digest = artifacts.sha256_hex(artifacts.sha256sums(stored))
        assert status["artifact"]["digest"] == f"sha256:{digest}"


def operator_pod(api: kubernetes.client.ApiClient) -> Any:
    pods = kubernetes.client.CoreV1Api(api).list_namespaced_pod(
        deploy.OPERATOR_NAMESPACE, label_selector="app.kubernetes.io/component=operator"
    )
    return next((p for p in pods.items if p.metadata.deletion_timestamp is None), None)


def test_a_release_promotes_through_every_stage_judged_by_scrape(
    request: pytest.FixtureRequest,
    real_cluster: ControlPlane,
    real_api: kubernetes.client.ApiClient,
    store_namespace: str,
    trained: dict[str, dict[str, Any]],
) -> None:
    """Traffic through the Service follows the replica shares at every stage; the
    operator's pod, deleted mid-rollout, comes back and carries on from the same stage."""
    name = "loan-default"
    release = releases.manifest(name, {"training": "loan-default-v2"})
    context = lambda: operator_log(real_cluster)  # noqa: E731
    releases.apply(real_cluster, store_namespace, release)
    wait = waiter(real_cluster, real_api, store_namespace)
    url = wait.until(
        lambda: releases.service_url(real_api, store_namespace, name), what="the release Service"
    )
    wait.until(lambda: answers(url), what="the stable version answering", timeout=180)
    restarted: dict[str, Any] = {}
    with (
        scenario.Observer(real_api, store_namespace, name) as observer,
        ServiceTraffic(url) as traffic,
    ):
        # Mid-rollout, at the second stage: the operator's pod goes.
        wait.until(
            lambda: releases.status(real_api, store_namespace, name).get("stageIndex", 0) >= 1,
            what="the second stage",
            timeout=300,
        )
        before = operator_pod(real_api)
        restarted["stage"] = releases.status(real_api, store_namespace, name)["stageIndex"]
        kubernetes.client.CoreV1Api(real_api).delete_namespaced_pod(
            before.metadata.name, deploy.OPERATOR_NAMESPACE
        )
        after = wait.until(
            lambda: (
                (p := operator_pod(real_api)) is not None
                and p.metadata.name != before.metadata.name
                and deploy.ready_pod(
                    real_cluster, deploy.OPERATOR_NAMESPACE, "app.kubernetes.io/component=operator"
                )
                and p
            ),
            what="a new operator pod Ready",
            timeout=180,
        )
        restarted["pod"] = after.metadata.name
        final = releases.wait_final(real_api, store_namespace, name, 600, context)
    assert final["phase"] == "Succeeded", final
    assert final["stableVersion"] == "loan-default-v2"
    # The stage never went back: the restart resumed from status.
    indexes = [s.status.get("stageIndex", 0) for s in observer.samples if s.status]
    assert indexes == sorted(indexes), indexes
    assert restarted["stage"] >= 1
    # Every stage's window: the versions answering match the replica shares.
    lines = []
    for index, started in observer.stage_windows():
        weight = release["spec"]["stages"][index]["weight"]
        expected = effective_weight(release["spec"]["serving"]["replicas"], weight) / 100
        counts = traffic.between(started + 2, started + releases.STAGE_SECONDS - 1)
        answered = sum(n for version, n in counts.items() if version is not None)
        share = counts["loan-default-v2"] / answered if answered else 0.0
        lines.append(f"stage {index + 1} ({weight}%): {share:.2f} of {answered} answers")
        if weight < 100 and answered >= 100:
            assert abs(share - expected) < 0.12, lines
    errors = sum(1 for answer in traffic.answers if answer.version is None)
    assert errors <= 0.01 * len(traffic.answers), f"{errors} errors of {len(traffic.answers)}"
    made = scenario.decisions(
        observer, release["spec"], candidate="loan-default-v2", stable="loan-default-v1"
    )
    report(
        request.config,
        "real node release: "
        + "; ".join(lines)
        + "; decisions: "
        + ", ".join(f"{d.what} in {d.latency:.1f}s" for d in made)
        + f"; operator restarted at stage {restarted['stage'] + 1} as {restarted['pod']}"
        + f"; feedback through the Service: {dict(traffic.feedback)}",
    )
    assert made and all(d.latency < 20 for d in made), made


def test_a_drifting_candidate_is_rolled_back(
    real_cluster: ControlPlane,
    real_api: kubernetes.client.ApiClient,
    store_namespace: str,
    trained: dict[str, dict[str, Any]],
) -> None:
    """A model trained on another population: its scores on real traffic drift."""
    (training,) = deploy.example("training-loan-default-v2.yaml")
    training["metadata"]["name"] = "loan-default-shifted"
    training["spec"]["dataset"]["uri"] = "builtin:loan-default?rows=20000&seed=9&shift=1.5"
    training["spec"]["qualityGate"] = {"thresholds": [{"metric": "roc_auc", "min": 0.7}]}
    deploy.kubectl(
        real_cluster, "apply", "-n", store_namespace, "-f", "-", stdin=yaml.safe_dump(training)
    )
    wait = waiter(real_cluster, real_api, store_namespace)
    assert wait_training(wait, real_api, store_namespace, "loan-default-shifted")["phase"] == (
        "Succeeded"
    )
    name = "loan-default-drift"
    release = releases.manifest(
        name,
        {"training": "loan-default-shifted"},
        # Offline it is no worse; only live traffic shows the drift.
        riskCheck={"metrics": [{"metric": "roc_auc", "maxDegradation": 1.0}]},
    )
    releases.apply(real_cluster, store_namespace, release)
    url = wait.until(
        lambda: releases.service_url(real_api, store_namespace, name), what="the release Service"
    )
    wait.until(lambda: answers(url), what="the stable version answering", timeout=180)
    with ServiceTraffic(url):
        final = releases.wait_final(
            real_api, store_namespace, name, 600, lambda: operator_log(real_cluster)
        )
    assert final["phase"] == "RolledBack", final
    assert final["failedGate"]["name"].startswith(("drift", "relative")), final["failedGate"]
    deployments = kubernetes.client.AppsV1Api(real_api).list_namespaced_deployment(
        store_namespace, label_selector=f"modelrelease.dev/release={name}"
    )
    replicas = {d.metadata.name: d.spec.replicas for d in deployments.items}
    assert sum(replicas.values()) == release["spec"]["serving"]["replicas"], replicas


def test_a_candidate_with_the_wrong_digest_never_serves(
    real_cluster: ControlPlane,
    real_api: kubernetes.client.ApiClient,
    store_namespace: str,
    trained: dict[str, dict[str, Any]],
) -> None:
    name = "loan-default-tampered"
    candidate = {
        "artifactUri": trained["loan-default-v2"]["artifact"]["uri"],
        "digest": "sha256:" + "0" * 64,
        "version": "v2-tampered",
    }
    release = releases.manifest(name, candidate, readinessDeadline="60s")
    releases.apply(real_cluster, store_namespace, release)
    final = releases.wait_final(
        real_api, store_namespace, name, 300, lambda: operator_log(real_cluster)
    )
    assert final["phase"] == "Failed", final
    assert "ready" in final["message"].lower(), final["message"]
    pods = kubernetes.client.CoreV1Api(real_api).list_namespaced_pod(
        store_namespace, label_selector="modelrelease.dev/version=v2-tampered"
    )
    for pod in pods.items:
        assert not any(c.ready for c in pod.status.container_statuses or []), pod.metadata.name
