"""charts/modelrelease with the real helm, built from the pinned module
(tests/controlplane/gomod/helm): it lints, its defaults render what
`kubectl kustomize manifests/` does (and its observability and Argo CD options what
manifests/observability/ and manifests/gitops/argocd/ do), its values change what they
name, and it installs on the local control plane beside the session's install."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from tests.controlplane import binaries
from tests.controlplane.cluster import ControlPlane

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "modelrelease"
HELM_GOMOD = REPO / "tests" / "controlplane" / "gomod" / "helm" / "go.mod"
RELEASE, NAMESPACE = "modelrelease", "modelrelease-system"
#: Labels only a Helm release carries; the kustomize install has none of them.
HELM_ONLY = {"helm.sh/chart", "app.kubernetes.io/instance", "app.kubernetes.io/version"}
#: Every optional object on: what manifests/observability/ and the Argo CD component add.
EVERYTHING = {
    "observability": {
        name: {"enabled": True}
        for name in (
            "metricsService",
            "serviceMonitor",
            "podMonitor",
            "prometheusRule",
            "dashboard",
        )
    },
    "argocd": {"healthChecks": {"enabled": True}},
}

Key = tuple[str, str, str]


class Helm:
    """The pinned helm, with its own config, cache and data folders (not the user's)."""

    def __init__(self, binary: Path, home: Path, kubeconfig: Path | None = None) -> None:
        self.binary, self.home, self.kubeconfig = binary, home, kubeconfig

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = os.environ | {
            f"HELM_{kind}_HOME": str(self.home / kind.lower())
            for kind in ("CACHE", "CONFIG", "DATA")
        }
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.kubeconfig)
        done = subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, env=env, timeout=300
        )
        if check:
            assert done.returncode == 0, f"helm {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done

    def template(
        self,
        values: dict[str, Any] | None = None,
        *,
        release: str = RELEASE,
        namespace: str = NAMESPACE,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            "template", release, str(CHART), "--namespace", namespace, "--include-crds",
            *self.values_args(values), check=check,
        )  # fmt: skip

    def render(
        self,
        values: dict[str, Any] | None = None,
        *,
        release: str = RELEASE,
        namespace: str = NAMESPACE,
    ) -> dict[Key, Any]:
        done = self.template(values, release=release, namespace=namespace)
        return by_key(yaml.safe_load_all(done.stdout))

    def values_args(self, values: dict[str, Any] | None) -> list[str]:
        if not values:
            return []
        path = self.home / f"values-{time.monotonic_ns()}.yaml"
        path.write_text(yaml.safe_dump(values))
        return ["--values", str(path)]


@pytest.fixture(scope="module")
def tools() -> binaries.Binaries:
    """helm and kubectl from the pins (built once, then cached); no cluster needed."""
    return binaries.ensure()


@pytest.fixture(scope="module")
def helm(tools: binaries.Binaries, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(tools.bin_dir / "helm", tmp_path_factory.mktemp("helm"))


def by_key(documents: Any) -> dict[Key, Any]:
    objects = [d for d in documents if d]
    keyed = {
        (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d for d in objects
    }
    assert len(keyed) == len(objects), "two objects of the same kind, namespace and name"
    return keyed


def kustomize(tools: binaries.Binaries, folder: Path) -> dict[Key, Any]:
    done = subprocess.run(
        [str(tools.bin_dir / "kubectl"), "kustomize", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return by_key(yaml.safe_load_all(done.stdout))


def without_helm_labels(document: dict[str, Any]) -> dict[str, Any]:
    """The object as the kustomize install would write it: Helm's labels dropped from
    the object and its pod template."""
    copy: dict[str, Any] = yaml.safe_load(yaml.safe_dump(document))
    holders = [copy["metadata"]]
    if copy["kind"] == "Deployment":
        holders.append(copy["spec"]["template"]["metadata"])
    for metadata in holders:
        labels = metadata.get("labels", {})
        for name in HELM_ONLY:
            labels.pop(name, None)
        if labels.get("app.kubernetes.io/managed-by") == "Helm":
            del labels["app.kubernetes.io/managed-by"]
    return copy


def deployment(rendered: dict[Key, Any]) -> dict[str, Any]:
    found: list[dict[str, Any]] = [d for key, d in rendered.items() if key[0] == "Deployment"]
    assert len(found) == 1, found
    return found[0]


def container(rendered: dict[Key, Any]) -> dict[str, Any]:
    found: list[dict[str, Any]] = deployment(rendered)["spec"]["template"]["spec"]["containers"]
    assert len(found) == 1, found
    return found[0]


def test_helm_is_the_pinned_release(helm: Helm) -> None:
    pinned = next(
        line.split()[2]
        for line in HELM_GOMOD.read_text().splitlines()
        if line.startswith("require helm.sh/helm/v3 ")
    )
    assert helm.run("version", "--template", "{{.Version}}").stdout == pinned


@pytest.mark.parametrize(
    "values", [None, EVERYTHING, {"replicas": 0}], ids=["defaults", "everything-on", "scaled-to-0"]
)
def test_helm_lint_passes(helm: Helm, values: dict[str, Any] | None) -> None:
    done = helm.run("lint", "--strict", str(CHART), *helm.values_args(values))
    assert "0 chart(s) failed" in done.stdout, done.stdout


def test_defaults_render_the_kustomize_install_less_its_namespace(
    helm: Helm, tools: binaries.Binaries
) -> None:
    """Object for object, but for Helm's labels. The release's namespace must exist
    before `helm install`, so the chart cannot create it (docs/helm.md labels it)."""
    installed = kustomize(tools, REPO / "manifests")
    assert installed.pop(("Namespace", "", NAMESPACE))
    rendered = helm.render()
    assert sorted(rendered) == sorted(installed)
    for key, expected in installed.items():
        assert without_helm_labels(rendered[key]) == expected, key
    for key, document in rendered.items():
        labels = document["metadata"].get("labels", {})
        if key[0] != "CustomResourceDefinition":  # crds/ is applied as it is, untemplated
            assert labels["app.kubernetes.io/managed-by"] == "Helm", key
            assert labels["helm.sh/chart"] == "modelrelease-0.1.0", key


def test_the_packaged_chart_renders_what_the_folder_does(helm: Helm, tmp_path: Path) -> None:
    """`helm package` keeps crds/ and files/: the copies, not links out of the chart."""
    helm.run("package", str(CHART), "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("modelrelease-*.tgz")
    packaged = helm.run(
        "template", RELEASE, str(archive), "--namespace", NAMESPACE, "--include-crds",
        *helm.values_args(EVERYTHING),
    )  # fmt: skip
    assert by_key(yaml.safe_load_all(packaged.stdout)) == helm.render(EVERYTHING)


def test_observability_renders_manifests_observability(
    helm: Helm, tools: binaries.Binaries
) -> None:
    monitoring = kustomize(tools, REPO / "manifests" / "observability")
    rendered = helm.render({"observability": EVERYTHING["observability"]})
    added = {key: d for key, d in rendered.items() if key not in helm.render()}
    assert sorted(added) == sorted(monitoring)
    for key, expected in monitoring.items():
        assert without_helm_labels(added[key]) == expected, key


def test_the_metrics_service_comes_with_the_service_monitor(helm: Helm) -> None:
    rendered = helm.render({"observability": {"serviceMonitor": {"enabled": True}}})
    assert ("Service", NAMESPACE, "modelrelease-operator") in rendered


def test_argocd_health_checks_are_the_components_keys(
    helm: Helm, tools: binaries.Binaries, tmp_path: Path
) -> None:
    """The same two keys the kustomize component merges into argocd-cm."""
    base = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm"}}
    (tmp_path / "argocd-cm.yaml").write_text(yaml.safe_dump(base))
    component = os.path.relpath(REPO / "manifests" / "gitops" / "argocd", tmp_path)
    kustomization = {"namespace": "argocd", "resources": ["argocd-cm.yaml"]}
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(kustomization | {"components": [component]})
    )
    merged = kustomize(tools, tmp_path)[("ConfigMap", "argocd", "argocd-cm")]
    rendered = helm.render(EVERYTHING)[("ConfigMap", "argocd", "argocd-cm")]
    assert rendered["data"] == merged["data"]
    assert set(rendered["data"]) == {
        f"resource.customizations.health.modelrelease.dev_{kind}"
        for kind in ("ModelRelease", "ModelTraining")
    }
    # Argo CD reads only ConfigMaps labelled as its own; nothing else may be claimed.
    assert rendered["metadata"]["labels"] == {"app.kubernetes.io/part-of": "argocd"}


def test_optional_objects_are_off_by_default(helm: Helm) -> None:
    kinds = {key[0] for key in helm.render()}
    assert kinds == {
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
    }


Check = Callable[[dict[Key, Any]], None]


def image_override(rendered: dict[Key, Any]) -> None:
    assert container(rendered)["image"] == "registry.example.com/ml/operator:9.9.9"
    assert container(rendered)["imagePullPolicy"] == "Always"
    spec = deployment(rendered)["spec"]["template"]["spec"]
    assert spec["imagePullSecrets"] == [{"name": "registry"}]


def repository_only(rendered: dict[Key, Any]) -> None:
    assert container(rendered)["image"] == "registry.example.com/ml/operator:0.1.0"
    assert "imagePullPolicy" not in container(rendered)


def scaled_to_zero(rendered: dict[Key, Any]) -> None:
    assert deployment(rendered)["spec"]["replicas"] == 0


def resources(rendered: dict[Key, Any]) -> None:
    # Helm merges maps with the defaults; null removes a default (the CPU limit here).
    assert container(rendered)["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"memory": "1Gi"},
    }


def placement(rendered: dict[Key, Any]) -> None:
    spec = deployment(rendered)["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert spec["tolerations"] == [{"key": "infra", "operator": "Exists"}]
    assert spec["affinity"]["nodeAffinity"]
    assert deployment(rendered)["spec"]["template"]["metadata"]["annotations"] == {"a": "b"}


def extra_env(rendered: dict[Key, Any]) -> None:
    assert container(rendered)["env"][0] == {"name": "MODELRELEASE_METRICS_PORT", "value": "8080"}
    assert container(rendered)["env"][-1] == {
        "name": "MODELRELEASE_GPU_TOLERATION_KEY",
        "value": "gpu",
    }


AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["infra"]}]}
            ]
        }
    }
}
CASES: list[tuple[str, dict[str, Any], Check]] = [
    (
        "image",
        {
            "image": {
                "repository": "registry.example.com/ml/operator",
                "tag": "9.9.9",
                "pullPolicy": "Always",
            },
            "imagePullSecrets": [{"name": "registry"}],
        },
        image_override,
    ),
    ("image-repository-only", {"image": {"repository": "registry.example.com/ml/operator"}},
     repository_only),
    ("replicas-0", {"replicas": 0}, scaled_to_zero),
    (
        "resources",
        {"resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": None, "memory": "1Gi"}}},
        resources,
    ),
    (
        "placement",
        {
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "infra", "operator": "Exists"}],
            "affinity": AFFINITY,
            "podAnnotations": {"a": "b"},
        },
        placement,
    ),
    ("extra-env", {"extraEnv": [{"name": "MODELRELEASE_GPU_TOLERATION_KEY", "value": "gpu"}]},
     extra_env),
]  # fmt: skip


@pytest.mark.parametrize(("values", "check"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_values_change_what_they_name_and_nothing_else(
    helm: Helm, values: dict[str, Any], check: Check
) -> None:
    defaults, rendered = helm.render(), helm.render(values)
    check(rendered)
    assert sorted(rendered) == sorted(defaults)
    changed = {key for key in defaults if rendered[key] != defaults[key]}
    assert changed == {("Deployment", NAMESPACE, "modelrelease-operator")}


def test_release_name_and_namespace_name_everything(helm: Helm) -> None:
    rendered = helm.render(EVERYTHING, release="ml", namespace="ml-platform")
    operator = "ml-modelrelease-operator"
    namespaced = {key[1] for key in rendered if key[0] not in ("ClusterRole", "ClusterRoleBinding")}
    # CRDs are cluster-scoped; argocd-cm lives in Argo CD's namespace.
    assert namespaced == {"", "ml-platform", "argocd"}
    assert ("ClusterRole", "", operator) in rendered
    binding = rendered[("ClusterRoleBinding", "", operator)]
    assert binding["roleRef"]["name"] == operator
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": operator, "namespace": "ml-platform"}
    ]
    spec = rendered[("Deployment", "ml-platform", operator)]["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == operator
    monitor = rendered[("ServiceMonitor", "ml-platform", operator)]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["ml-platform"]}
    # The operator-down alert watches the scrape job, which is the metrics Service's name.
    assert ("Service", "ml-platform", operator) in rendered
    rules = rendered[("PrometheusRule", "ml-platform", "ml-modelrelease")]["spec"]["groups"]
    (down,) = (r for g in rules for r in g["rules"] if r["alert"] == "ModelReleaseOperatorDown")
    assert down["expr"] == f'absent(up{{job="{operator}"}} == 1)'


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"replicas": 2, "leaderElection": {"enabled": False}}, "without leaderElection"),
        ({"watchNamespace": "team-a"}, "watchNamespace"),
        ({"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
    ],
    ids=["two-replicas", "unsupported-value", "bad-pull-policy"],
)
def test_values_it_cannot_honour_fail_the_render(
    helm: Helm, values: dict[str, Any], says: str
) -> None:
    done = helm.template(values, check=False)
    assert done.returncode != 0, done.stdout
    assert says in done.stderr, done.stderr


def test_helm_install_runs_the_operator_with_the_charts_values(
    control_plane: ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    installed: object,
    namespace: str,
    tools: binaries.Binaries,
    tmp_path: Path,
) -> None:
    """Beside the session's install (its CRDs and modelrelease-system RBAC): another
    release name, so other cluster-scoped names; the CRDs are already there. The
    namespace enforces Pod Security `restricted`, so the operator's pod is admitted only
    if the chart's pod spec meets it; kwok runs it, so it acts on nothing."""
    helm = Helm(tools.bin_dir / "helm", tmp_path, control_plane.admin_kubeconfig)
    release, operator = "chart-test", "chart-test-modelrelease-operator"
    values = {"image": {"tag": "9.9.9"}, "resources": {"requests": {"cpu": "50m"}}}
    started = time.monotonic()
    helm.run(
        "install", release, str(CHART), "--namespace", namespace, "--skip-crds",
        "--wait", "--timeout", "120s", *helm.values_args(values),
    )  # fmt: skip
    seconds = time.monotonic() - started
    apps = kubernetes.client.AppsV1Api(kube_api)
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube_api)
    try:
        found = kube_api.sanitize_for_serialization(
            apps.read_namespaced_deployment(operator, namespace)
        )
        (running,) = found["spec"]["template"]["spec"]["containers"]
        assert running["image"] == "ghcr.io/modelrelease/operator:9.9.9"
        assert running["resources"]["requests"] == {"cpu": "50m", "memory": "256Mi"}
        assert found["spec"]["template"]["spec"]["serviceAccountName"] == operator
        # Admitted by the namespace's restricted Pod Security, scheduled and Ready (kwok).
        assert found["status"].get("availableReplicas") == 2, f"after {seconds:.1f}s: {found}"
        binding = kube_api.sanitize_for_serialization(rbac.read_cluster_role_binding(operator))
        assert binding["subjects"][0]["namespace"] == namespace
        listed = helm.run("list", "--namespace", namespace, "--output", "yaml").stdout
        (entry,) = yaml.safe_load(listed)
        assert (entry["name"], entry["status"], entry["app_version"]) == (
            release,
            "deployed",
            "0.1.0",
        )
    finally:
        helm.run("uninstall", release, "--namespace", namespace, "--wait", "--timeout", "120s")
    with pytest.raises(kubernetes.client.ApiException) as gone:
        rbac.read_cluster_role(operator)
    assert gone.value.status == 404
    # The session's install is untouched.
    assert rbac.read_cluster_role("modelrelease-operator")


def test_argocd_health_checks_apply_server_side_beside_argocds_keys(
    control_plane: ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    helm: Helm,
    tools: binaries.Binaries,
) -> None:
    """docs/helm.md's command: the two keys join an existing argocd-cm; Argo CD's own
    keys and labels stay."""
    core = kubernetes.client.CoreV1Api(kube_api)
    labels = {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"}
    core.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": "argocd-cm", "labels": labels}, "data": {"url": "https://argo"}},
    )
    rendered = helm.run(
        "template", RELEASE, str(CHART), "--show-only", "templates/argocd-health.yaml",
        "--set", "argocd.healthChecks.enabled=true", "--set", f"argocd.namespace={namespace}",
    ).stdout  # fmt: skip
    applied = subprocess.run(
        [
            str(tools.bin_dir / "kubectl"), f"--kubeconfig={control_plane.admin_kubeconfig}",
            "apply", "--server-side", "--field-manager=modelrelease-health", "-f", "-",
        ],
        input=rendered, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    merged = core.read_namespaced_config_map("argocd-cm", namespace)
    assert merged.metadata.labels == labels
    assert merged.data == yaml.safe_load(rendered)["data"] | {"url": "https://argo"}
