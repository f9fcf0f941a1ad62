"""End to end on kind: the real images, the real trainer in a real pod.

Builds the training and serving images, loads them into a fresh kind cluster,
installs the CRDs and manifests, runs the operator under its ServiceAccount and
applies the loan-default example, which must end Succeeded. Skipped where docker
(with a working engine) or kind is missing. KEEP_KIND_CLUSTER=1 keeps the cluster.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from tests.integration.install import install
from tests.integration.running_operator import (
    OperatorProcess,
    service_account_kubeconfig,
    wait_owner_kinds_resolvable,
)

from .kind import KindCluster, build_image, missing_tools

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "manifests" / "examples"
TRAINING = yaml.safe_load((EXAMPLES / "training-loan-default.yaml").read_text())
#: The tags the examples and the operator's defaults name, so nothing is pulled.
IMAGES = {
    "training-image/Dockerfile": TRAINING["spec"]["image"],
    "serving-image/Dockerfile": "ghcr.io/modelrelease/server:0.1.0",
}
GROUP, VERSION, PLURAL = "modelrelease.dev", "v1alpha1", "modeltrainings"
TIMEOUT = 1200.0


@pytest.fixture(scope="module")
def kind_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KindCluster]:
    why = missing_tools()
    if why:
        pytest.skip(f"end-to-end test needs docker and kind: {why}")
    for dockerfile, tag in IMAGES.items():
        build_image(REPO, dockerfile, tag)
    workdir = tmp_path_factory.mktemp("kind")
    cluster = KindCluster(f"modelrelease-e2e-{secrets.token_hex(3)}", workdir / "kubeconfig")
    cluster.create()
    try:
        for tag in IMAGES.values():
            cluster.load(tag)
        yield cluster
    finally:
        if not os.environ.get("KEEP_KIND_CLUSTER"):
            cluster.delete()


def _artifact_store(api: kubernetes.client.ApiClient, namespace: str) -> None:
    """The example object store as written: its Secret, SeaweedFS and its claim."""
    for document in yaml.safe_load_all((EXAMPLES / "artifact-store.yaml").read_text()):
        kubernetes.utils.create_from_dict(api, document, namespace=namespace)


def test_loan_default_example_trains_on_kind(kind_cluster: KindCluster, tmp_path: Path) -> None:
    api = kubernetes.config.new_client_from_config(config_file=str(kind_cluster.kubeconfig))
    documents = install(api, REPO / "manifests")
    config = service_account_kubeconfig(api, tmp_path / "operator.kubeconfig")
    wait_owner_kinds_resolvable(
        config, [d for d in documents if d["kind"] == "CustomResourceDefinition"]
    )
    core = kubernetes.client.CoreV1Api(api)
    namespace = "loan-default-e2e"
    core.create_namespace(
        {
            "metadata": {
                "name": namespace,
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            }
        }
    )
    _artifact_store(api, namespace)
    operator = OperatorProcess(config, tmp_path)
    operator.start()
    try:
        custom = kubernetes.client.CustomObjectsApi(api)
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, TRAINING)
        name = TRAINING["metadata"]["name"]
        deadline = time.monotonic() + TIMEOUT
        status: dict[str, Any] = {}
        while status.get("phase") not in {"Succeeded", "Failed", "Rejected"}:
            assert time.monotonic() < deadline, (
                f"{name} not finished after {TIMEOUT:.0f}s: {status}\n{operator.tail()}"
            )
            time.sleep(5)
            status = (
                custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name).get(
                    "status"
                )
                or {}
            )
        assert status["phase"] == "Succeeded", f"{status}\n{operator.tail()}"
        assert status["artifact"]["digest"].startswith("sha256:")
        assert status["metrics"]["roc_auc"] >= 0.8
    finally:
        operator.stop()
