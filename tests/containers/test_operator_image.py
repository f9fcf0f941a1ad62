"""The operator image, run with the Deployment's settings from manifests/operator.yaml,
connects to the local control plane as its ServiceAccount and reconciles a
ModelTraining. The session's host-process operator steps aside meanwhile (two
operators would both act); the `operator` fixture brings it back for later tests."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from modelrelease_operator import security

from tests.controlplane.processes import free_port, wait_until
from tests.integration.running_operator import OperatorProcess, service_account_kubeconfig
from tests.integration.trainings import Trainings, artifact_store, ending
from tests.integration.waiting import Waiter

from . import podman
from .conftest import Trained, example_training

MANIFEST = podman.REPO / "manifests" / "operator.yaml"
KUBECONFIG_DIR = "/var/run/modelrelease"
#: The liveness endpoint the manifest's command serves.
LIVENESS = "http://127.0.0.1:8081/healthz"


@pytest.fixture
def operator_container(
    images: dict[str, podman.Image],
    operator_process: OperatorProcess,
    kube_api: kubernetes.client.ApiClient,
    tmp_path: Path,
    container_name: str,
) -> Iterator[str]:
    operator_process.stop()
    uid = security.RUN_AS
    config_dir = podman.writable_folder(tmp_path / "kubeconfig", uid)
    config = service_account_kubeconfig(kube_api, config_dir / "kubeconfig")
    config.chmod(0o400)
    shutil.chown(config, uid, uid)
    deployment = next(
        d for d in yaml.safe_load_all(MANIFEST.read_text()) if d["kind"] == "Deployment"
    )
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == images["operator"].ref
    container["volumeMounts"].append(
        {"name": "kubeconfig", "mountPath": KUBECONFIG_DIR, "readOnly": True}
    )
    args = podman.run_args(
        container,
        pod["securityContext"],
        volumes={"tmp": podman.writable_folder(tmp_path / "tmp", uid), "kubeconfig": config_dir},
        env_from={
            "KUBECONFIG": f"{KUBECONFIG_DIR}/kubeconfig",
            # The host's network: keep clear of ports in use.
            "MODELRELEASE_METRICS_PORT": str(free_port()),
            "MODELRELEASE_RESYNC_SECONDS": "5",
        },
        # As the kubelet fills them in for the Deployment's pod (the Lease's holder and place).
        downward={
            "metadata.name": container_name,
            "metadata.namespace": deployment["metadata"]["namespace"],
        },
        name=container_name,
    )
    args.insert(2, "--detach")
    started = podman.run(args, timeout=120)
    assert started.returncode == 0, started.stderr

    def live() -> bool:
        with urllib.request.urlopen(LIVENESS, timeout=2) as response:
            return bool(response.status == 200)

    wait_until(live, timeout=120, what="the operator container's liveness endpoint")
    yield container_name


def test_reconciles_a_training(
    operator_container: str,
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    wait: Waiter,
    trained: Trained,
) -> None:
    artifact_store(kube_api, namespace)
    trainings = Trainings(kube_api, namespace, wait)
    manifest = example_training("from-the-image")
    del manifest["metadata"]["namespace"]
    # The pod (kwok's) ends with what the trainer image wrote for the example.
    uri = "s3://models/loan-default/from-the-image"
    message = json.dumps({**trained.summary, "artifactUri": uri}, separators=(",", ":"))
    trainings.create(ending(manifest, "succeed", message=message))
    try:
        status = trainings.wait_phase("from-the-image", "Succeeded")
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{podman.logs(operator_container)[-4000:]}") from error
    assert status["artifact"] == {"uri": uri, "digest": trained.summary["digest"]}
    assert status["metrics"]["roc_auc"] == trained.summary["metrics"]["roc_auc"]
    [job] = trainings.jobs("from-the-image")
    assert job.spec.template.spec.containers[0].image == manifest["spec"]["image"]
