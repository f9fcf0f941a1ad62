"""The chart's namespaced install (`watchNamespaces`, docs/operations.md): what
manifests/namespaced/ installs, a Role and RoleBinding in each watched namespace and no
ClusterRole; `helm install` on the local control plane creates them where they belong."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from tests.controlplane import binaries
from tests.controlplane.cluster import ControlPlane

from .test_chart import CHART, NAMESPACE, Helm, Key, by_key, container, without_helm_labels

REPO = Path(__file__).resolve().parents[2]
OPERATOR = "modelrelease-operator"
PROXY = {"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get"]}


@pytest.fixture(scope="module")
def tools() -> binaries.Binaries:
    return binaries.ensure()


@pytest.fixture(scope="module")
def chart(tools: binaries.Binaries, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """The pinned helm (built once, then cached), as test_chart.py runs it."""
    return Helm(tools.bin_dir / "helm", tmp_path_factory.mktemp("helm"))


def env(rendered: dict[Key, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(rendered)["env"]}


def test_one_namespace_renders_the_kustomize_component_less_its_namespace(
    chart: Helm, tools: binaries.Binaries, tmp_path: Path
) -> None:
    """Object for object, but for Helm's labels, as the defaults render manifests/."""
    manifests = os.path.relpath(REPO / "manifests", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": [manifests], "components": [f"{manifests}/namespaced"]})
    )
    done = subprocess.run(
        [str(tools.bin_dir / "kubectl"), "kustomize", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    installed = by_key(yaml.safe_load_all(done.stdout))
    assert installed.pop(("Namespace", "", NAMESPACE))
    rendered = chart.render({"watchNamespaces": ["ml-workloads"]})
    assert sorted(rendered) == sorted(installed)
    for key, expected in installed.items():
        assert without_helm_labels(rendered[key]) == expected, key


def test_a_role_in_each_watched_namespace_and_no_cluster_role(chart: Helm) -> None:
    rendered = chart.render({"watchNamespaces": ["team-a", "team-b"]}, namespace="ml-platform")
    operator = OPERATOR
    assert not [key for key in rendered if key[0] in ("ClusterRole", "ClusterRoleBinding")]
    defaults = chart.render()
    (cluster_role,) = [d for key, d in defaults.items() if key[0] == "ClusterRole"]
    for namespace in ("team-a", "team-b"):
        role = rendered[("Role", namespace, operator)]
        # The cluster-wide rules but the CRDs' (Kopf does not read CRDs in this mode).
        assert role["rules"] == cluster_role["rules"][1:]
        assert PROXY in role["rules"]
        binding = rendered[("RoleBinding", namespace, operator)]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": operator,
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": operator, "namespace": "ml-platform"}
        ]
    # pods/proxy nowhere else: not in the operator's own namespace, not cluster-wide.
    granting = {key for key, d in rendered.items() if PROXY in d.get("rules", [])}
    assert granting == {("Role", "team-a", operator), ("Role", "team-b", operator)}
    # Leader election keeps its Role on the Lease in the operator's namespace.
    assert ("Role", "ml-platform", f"{operator}-leader-election") in rendered
    assert ("RoleBinding", "ml-platform", f"{operator}-leader-election") in rendered
    args = container(rendered)["args"]
    assert args == [
        "kopf", "run", "--standalone", "--namespace=team-a", "--namespace=team-b",
        "--liveness=http://0.0.0.0:8081/healthz", "-m", "modelrelease_operator.main",
    ]  # fmt: skip
    assert env(rendered)["MODELRELEASE_WATCH_NAMESPACES"] == "team-a,team-b"
    assert env(rendered)["MODELRELEASE_LEADER_ELECTION"] == "true"


def test_the_pod_monitor_selects_the_watched_namespaces(chart: Helm) -> None:
    values: dict[str, Any] = {"observability": {"podMonitor": {"enabled": True}}}
    monitor = ("PodMonitor", NAMESPACE, "modelrelease-serving")
    assert chart.render(values)[monitor]["spec"]["namespaceSelector"] == {"any": True}
    namespaced = chart.render(values | {"watchNamespaces": ["team-a", "team-b"]})
    selector = namespaced[monitor]["spec"]["namespaceSelector"]
    assert selector == {"matchNames": ["team-a", "team-b"]}


def test_cluster_wide_by_default(chart: Helm) -> None:
    rendered = chart.render()
    assert "--all-namespaces" in container(rendered)["args"]
    assert "MODELRELEASE_WATCH_NAMESPACES" not in env(rendered)
    assert ("ClusterRole", "", OPERATOR) in rendered


def test_lint_passes(chart: Helm) -> None:
    done = chart.run(
        "lint", "--strict", str(CHART), *chart.values_args({"watchNamespaces": ["team-a"]})
    )
    assert "0 chart(s) failed" in done.stdout, done.stdout


@pytest.mark.parametrize(
    "names",
    [["team-*"], ["team-a,team-b"], ["Team-A"], ["team-a", "team-a"], [""]],
    ids=["pattern", "comma-list", "capitals", "twice", "empty"],
)
def test_what_is_not_a_namespace_name_fails_the_render(chart: Helm, names: list[str]) -> None:
    done = chart.template({"watchNamespaces": names}, check=False)
    assert done.returncode != 0, done.stdout
    assert "watchNamespaces" in done.stderr, done.stderr


def test_helm_install_creates_the_roles_in_the_watched_namespace(
    control_plane: ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    installed: object,
    namespace: str,
    tools: binaries.Binaries,
    tmp_path: Path,
) -> None:
    """The release in one namespace, its Role and RoleBinding in another (the watched
    one, which exists already), nothing cluster-scoped; `helm uninstall` removes them.
    kwok runs the operator's pods, so it acts on nothing."""
    helm = Helm(tools.bin_dir / "helm", tmp_path, control_plane.admin_kubeconfig)
    core = kubernetes.client.CoreV1Api(kube_api)
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube_api)
    watched = f"{namespace}-w"
    core.create_namespace({"metadata": {"name": watched}})
    release, operator = "chart-ns", "chart-ns-modelrelease-operator"
    try:
        done = helm.run(
            "install", release, str(CHART), "--namespace", namespace, "--skip-crds",
            "--wait", "--timeout", "120s", *helm.values_args({"watchNamespaces": [watched]}),
        )  # fmt: skip
        assert f"in the namespaces {watched} only" in done.stdout, done.stdout
        try:
            role = rbac.read_namespaced_role(operator, watched)
            assert any("pods/proxy" in rule.resources for rule in role.rules)
            binding = rbac.read_namespaced_role_binding(operator, watched)
            assert (binding.subjects[0].name, binding.subjects[0].namespace) == (
                operator,
                namespace,
            )
            assert not [
                r.metadata.name
                for r in rbac.list_cluster_role().items
                if r.metadata.name.startswith(release)
            ]
        finally:
            helm.run("uninstall", release, "--namespace", namespace, "--wait", "--timeout", "120s")
        assert not rbac.list_namespaced_role(watched).items
    finally:
        core.delete_namespace(watched)
