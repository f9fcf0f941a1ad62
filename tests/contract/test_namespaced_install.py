"""manifests/namespaced/ (the namespaced install's Kustomize component) repeats what the
operator image runs and names its namespaces three times: they must agree. The
component is rendered and run on the control plane by
tests/integration/test_namespaced.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .test_install import dockerfile_cmd

REPO = Path(__file__).resolve().parents[2]
COMPONENT = REPO / "manifests" / "namespaced"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def operator_container() -> dict[str, Any]:
    patch = load(COMPONENT / "operator-patch.yaml")
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_the_component_runs_the_images_command_with_namespaces_instead_of_all() -> None:
    args = operator_container()["args"]
    command = dockerfile_cmd(REPO / "operator" / "Dockerfile")
    at = command.index("--all-namespaces")
    namespaces = [a for a in args if a.startswith("--namespace=")]
    assert namespaces
    assert args == command[:at] + namespaces + command[at + 1 :]


def test_the_namespaces_agree_in_the_arguments_the_variable_and_the_roles() -> None:
    container = operator_container()
    flags = [a.removeprefix("--namespace=") for a in container["args"] if "--namespace=" in a]
    (variable,) = [
        e["value"] for e in container["env"] if e["name"] == "MODELRELEASE_WATCH_NAMESPACES"
    ]
    roles = []
    for entry in load(COMPONENT / "kustomization.yaml")["resources"]:
        folder = load(COMPONENT / entry / "kustomization.yaml")
        assert folder["resources"] == ["../namespace-rbac"], entry
        roles.append(folder["namespace"])
    assert flags == variable.split(",") == roles


def test_the_role_grants_what_the_cluster_role_does_but_the_crds() -> None:
    """A rule added to manifests/rbac.yaml's ClusterRole belongs in the Role too (and in
    the chart's, which renders both from one list: tests/integration/test_chart*.py)."""
    documents = yaml.safe_load_all((REPO / "manifests" / "rbac.yaml").read_text())
    (cluster_role,) = [d for d in documents if d and d["kind"] == "ClusterRole"]
    crds, *rest = cluster_role["rules"]
    assert crds["resources"] == ["customresourcedefinitions"]
    documents = yaml.safe_load_all((COMPONENT / "namespace-rbac" / "role.yaml").read_text())
    (role,) = [d for d in documents if d and d["kind"] == "Role"]
    assert role["rules"] == rest
    assert {"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get"]} in rest
