"""`kubectl apply -k manifests/` and the examples, applied to the local control plane as
a user would apply them, with kubectl built from the pinned Kubernetes release."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes
import pytest
import yaml

from tests.controlplane.cluster import ControlPlane

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "manifests" / "examples").glob("*.yaml"))
VERSION = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M)
#: What `make images` tags the operator (images/build.sh's default registry).
OPERATOR_IMAGE = f"ghcr.io/modelrelease/operator:{VERSION.group(1) if VERSION else '?'}"


def kubectl(cluster: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={cluster.admin_kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"kubectl {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done


def test_apply_k_installs_the_operator_deployment_of_the_built_image(
    control_plane: ControlPlane, kube_api: kubernetes.client.ApiClient, installed: object
) -> None:
    kubectl(control_plane, "apply", "-k", str(REPO / "manifests"))
    apps = kubernetes.client.AppsV1Api(kube_api)
    try:
        deployment = apps.read_namespaced_deployment("modelrelease-operator", "modelrelease-system")
        (container,) = deployment.spec.template.spec.containers
        assert container.image == OPERATOR_IMAGE
        assert deployment.spec.template.spec.service_account_name == "modelrelease-operator"
        if shutil.which("podman"):
            inspected = subprocess.run(
                ["podman", "image", "exists", OPERATOR_IMAGE], timeout=60, check=False
            )
            assert inspected.returncode == 0, f"make images built no {OPERATOR_IMAGE}"
    finally:
        # The session's operator is a host process; this one would only be kwok's.
        apps.delete_namespaced_deployment("modelrelease-operator", "modelrelease-system")


def test_kustomize_images_override_the_operator_image(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    overlay = {
        "resources": [os.path.relpath(REPO / "manifests", tmp_path)],
        "images": [
            {
                "name": OPERATOR_IMAGE.rsplit(":", 1)[0],
                "newName": "registry.example.com/ml/modelrelease-operator",
                "newTag": "9.9.9",
            }
        ],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    rendered = list(yaml.safe_load_all(kubectl(control_plane, "kustomize", str(tmp_path)).stdout))
    deployment = next(d for d in rendered if d["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example.com/ml/modelrelease-operator:9.9.9"


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_applies_as_written(
    example: Path, control_plane: ControlPlane, installed: object, namespace: str
) -> None:
    """Admitted by the API server: the schemas, CEL rules and the namespace's
    restricted Pod Security profile."""
    done = kubectl(control_plane, "apply", "-n", namespace, "-f", str(example))
    kinds = [d["kind"] for d in yaml.safe_load_all(example.read_text()) if d]
    assert done.stdout.count(" created") == len(kinds), done.stdout
    # Pod Security only warns about a Deployment's pod template: no warning at all.
    assert done.stderr == "", done.stderr
