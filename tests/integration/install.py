"""Install the project's CRDs and manifests the way `kubectl apply -k manifests` would,
minus the operator's Deployment: the tests run the operator as a local process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import kubernetes
import yaml

#: Objects the tests provide themselves (kind, name).
SKIPPED = {("Deployment", "modelrelease-operator")}


def kustomization_documents(folder: Path) -> list[dict[str, Any]]:
    """Every object a kustomization's `resources` name, folders followed, in order."""
    listing = yaml.safe_load((folder / "kustomization.yaml").read_text()) or {}
    documents: list[dict[str, Any]] = []
    for entry in listing.get("resources", []):
        path = (folder / entry).resolve()
        if path.is_dir():
            documents += kustomization_documents(path)
        elif path.is_file():
            documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
        else:
            raise FileNotFoundError(
                f"{folder / 'kustomization.yaml'} lists {entry}, which does not exist"
                " (CRDs are generated: make crds)"
            )
    return documents


def install(
    api: kubernetes.client.ApiClient, manifests: Path, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Create the objects; wait until the CRDs among them are served. Returns them."""
    documents = [
        d
        for d in kustomization_documents(manifests)
        if (d.get("kind"), d["metadata"].get("name")) not in SKIPPED
    ]
    # CRDs and namespaces first, as kubectl orders them.
    documents.sort(key=lambda d: d["kind"] not in ("CustomResourceDefinition", "Namespace"))
    for document in documents:
        kubernetes.utils.create_from_dict(api, document)
    crds = [d for d in documents if d["kind"] == "CustomResourceDefinition"]
    _wait_established(api, [d["metadata"]["name"] for d in crds], timeout)
    for crd in crds:
        _wait_served(api, crd, timeout)
    return documents


def _wait_established(api: kubernetes.client.ApiClient, names: list[str], timeout: float) -> None:
    extensions = kubernetes.client.ApiextensionsV1Api(api)
    deadline = time.monotonic() + timeout
    pending = list(names)
    while pending:
        crd = extensions.read_custom_resource_definition(pending[0])
        conditions = (crd.status.conditions if crd.status else None) or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            pending.pop(0)
            continue
        if time.monotonic() > deadline:
            raise TimeoutError(f"CRD {pending[0]} not Established after {timeout:.0f}s")
        time.sleep(0.2)


def _wait_served(api: kubernetes.client.ApiClient, crd: dict[str, Any], timeout: float) -> None:
    """Established comes before the resource's storage is ready ("storage is
    (re)initializing"); a first list that succeeds means clients can start."""
    custom = kubernetes.client.CustomObjectsApi(api)
    group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
    version = next(v["name"] for v in crd["spec"]["versions"] if v.get("served"))
    deadline = time.monotonic() + timeout
    while True:
        try:
            custom.list_cluster_custom_object(group, version, plural, limit=1)
            return
        except kubernetes.client.ApiException as error:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{plural}.{group} not served: {error.reason}") from error
            time.sleep(0.2)
