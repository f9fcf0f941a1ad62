"""`real_cluster`: a ControlPlane of this suite's own (not the session's shared one)
with a real node joined, Ready; skipped, with one line, where runc or the CNI plugins
are missing."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from tests.containers import podman
from tests.controlplane import binaries, nodeimages, realnode
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.nodes import GPU_NODE
from tests.integration.fixtures import report
from tests.integration.waiting import Waiter

from . import deploy


@pytest.fixture(scope="session")
def real_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    problem = realnode.missing_host_parts()
    if problem:
        pytest.skip(problem)
    found = binaries.ensure(real_node=True)
    # Of kwok's nodes only the tainted GPU node: every other pod runs for real, so
    # manifests apply as written, without node selectors.
    cluster = ControlPlane(
        found.bin_dir, tmp_path_factory.mktemp("realnode"), nodes=(GPU_NODE,), real_node=True
    )
    cluster.start()
    node = cluster.real_node
    assert node is not None
    steps = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in node.timings.items())
    report(
        request.config,
        f"real node: {node.name} ({node.address}) on {cluster.server}; binaries ready in "
        f"{found.seconds:.1f}s; control plane {cluster.timings['total']:.1f}s; node: {steps}; "
        f"logs in {cluster.workdir / 'logs'}",
    )
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def webserve_archive(real_cluster: ControlPlane) -> Path:
    """nodeimages.WEBSERVE_IMAGE as an OCI archive (not imported yet)."""
    return nodeimages.webserve_image(real_cluster.bin_dir)


@pytest.fixture(scope="session")
def real_api(real_cluster: ControlPlane) -> Iterator[kubernetes.client.ApiClient]:
    with real_cluster.api_client() as api:
        yield api


def operator_log(cluster: ControlPlane) -> str:
    """The in-cluster operator's log, as `kubectl logs` shows it."""
    try:
        return deploy.kubectl(
            cluster,
            "logs",
            "-n",
            deploy.OPERATOR_NAMESPACE,
            f"deploy/{deploy.OPERATOR}",
            "--tail=80",
        )
    except RuntimeError as error:
        return str(error)


def waiter(
    cluster: ControlPlane, api: kubernetes.client.ApiClient, namespace: str | None
) -> Waiter:
    return Waiter(api, namespace, lambda: f"operator log ends:\n{operator_log(cluster)}")


@pytest.fixture(scope="session")
def deployed(
    request: pytest.FixtureRequest,
    real_cluster: ControlPlane,
    real_api: kubernetes.client.ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """The built images imported into the node, and the operator installed by
    `kubectl apply -k manifests/`; returns the operator's Ready pod."""
    why = podman.missing()
    if why:
        pytest.skip(f"the real node's images are built with podman: {why}")
    started = time.monotonic()
    for image in deploy.import_images(real_cluster, tmp_path_factory.mktemp("node-images")):
        report(request.config, f"real node image {image.ref} {image.digest}")
    pod = deploy.install_operator(
        real_cluster, waiter(real_cluster, real_api, deploy.OPERATOR_NAMESPACE)
    )
    report(
        request.config,
        f"operator pod {pod['metadata']['name']} Ready on {pod['spec']['nodeName']} "
        f"({pod['status']['containerStatuses'][0]['imageID']}) "
        f"{time.monotonic() - started:.1f}s after the images' import began",
    )
    return pod


@pytest.fixture(scope="module")
def store_namespace(
    real_cluster: ControlPlane, real_api: kubernetes.client.ApiClient, deployed: dict[str, Any]
) -> Iterator[str]:
    """A restricted namespace holding the examples' object store."""
    core = kubernetes.client.CoreV1Api(real_api)
    name = f"loan-default-{secrets.token_hex(3)}"
    labels = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "warn")}
    core.create_namespace({"metadata": {"name": name, "labels": labels}})
    try:
        wait = waiter(real_cluster, real_api, name)
        wait.until(
            lambda: (
                core.list_namespaced_service_account(
                    name, field_selector="metadata.name=default"
                ).items
            ),
            what="the namespace's default ServiceAccount",
        )
        deploy.install_store(real_cluster, name, wait)
        yield name
    finally:
        core.delete_namespace(name)
        wait_gone = waiter(real_cluster, real_api, None)
        wait_gone.until(
            lambda: not core.list_namespace(field_selector=f"metadata.name={name}").items,
            what=f"namespace {name} deleted",
            timeout=180,
        )
        core.delete_persistent_volume(f"{name}-store"[:63])
        deploy.remove_store_folder(name)
