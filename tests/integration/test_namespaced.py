"""The namespaced install (manifests/namespaced/, a Kustomize component on manifests/):
rendered by the real `kubectl kustomize`, applied with kubectl beside the session's
cluster-wide install (its namespaces moved aside: see `relocate`), and the operator run
as a process with the rendered Deployment's arguments and environment, authenticated as
that install's ServiceAccount. It acts in the namespace it watches and touches nothing
in another, without a single refused call; its ServiceAccount has no right at cluster
scope and may proxy to pods in the watched namespace only. The session's cluster-wide
operator is stopped meanwhile (it would act everywhere) and started again after."""

from __future__ import annotations

import copy
import hashlib
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from tests.controlplane.cluster import ControlPlane

from .running_operator import OperatorProcess, service_account_kubeconfig
from .waiting import Waiter

REPO = Path(__file__).resolve().parents[2]
GROUP, VERSION = "modelrelease.dev", "v1alpha1"
#: The names the component ships with, which the test moves aside.
OPERATOR_NAMESPACE, WATCHED, NAME = "modelrelease-system", "ml-workloads", "modelrelease-operator"
RELEASE_LABEL, TRAINING_LABEL = f"{GROUP}/release", f"{GROUP}/training"
#: The rendered Deployment's container arguments, but for Kopf's namespace options.
KOPF_RUN = [
    "kopf", "run", "--standalone", "--liveness=http://0.0.0.0:8081/healthz",
    "-m", "modelrelease_operator.main",
]  # fmt: skip


def render(control_plane: ControlPlane, folder: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize` of a kustomization that installs manifests/ with the
    namespaced component, as docs/operations.md shows it."""
    manifests = os.path.relpath(REPO / "manifests", folder)
    (folder / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": [manifests], "components": [f"{manifests}/namespaced"]})
    )
    done = subprocess.run(
        [str(control_plane.bin_dir / "kubectl"), "kustomize", str(folder)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def relocate(
    documents: list[dict[str, Any]], operator_namespace: str, watched: str
) -> list[dict[str, Any]]:
    """The install as a second one beside the session's: the operator's namespace and the
    watched one renamed; the CRDs (installed already) left out. It has no cluster-scoped
    object whose name would clash."""
    kept = [d for d in documents if d["kind"] != "CustomResourceDefinition"]
    assert all(d["metadata"].get("namespace") or d["kind"] == "Namespace" for d in kept), kept
    text = yaml.safe_dump_all(kept, sort_keys=False)
    text = text.replace(OPERATOR_NAMESPACE, operator_namespace).replace(WATCHED, watched)
    return list(yaml.safe_load_all(text))


def kubectl(
    control_plane: ControlPlane, *args: str, input: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(control_plane.bin_dir / "kubectl"), f"--kubeconfig={control_plane.admin_kubeconfig}",
         *args],
        input=input, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if check:
        assert done.returncode == 0, f"kubectl {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done


def fresh_namespace(core: kubernetes.client.CoreV1Api, stem: str) -> str:
    name = f"{stem}-{secrets.token_hex(3)}"
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    core.create_namespace({"metadata": {"name": name, "labels": labels}})
    return name


@dataclass
class Install:
    """A namespaced install on the control plane, and its operator (not started)."""

    operator_namespace: str
    watched: str
    other: str
    service_account: str
    documents: list[dict[str, Any]]
    operator: OperatorProcess

    def deployment(self) -> dict[str, Any]:
        return next(d for d in self.documents if d["kind"] == "Deployment")


def release(name: str, namespace: str) -> dict[str, Any]:
    """Two artifacts and a Prometheus that is not there: the release starts its first
    stage (two Deployments, status) and then waits (as in test_leader_election.py)."""

    def artifact(version: str) -> dict[str, str]:
        digest = hashlib.sha256(version.encode()).hexdigest()
        return {
            "artifactUri": f"s3://models/loan-default/{version}",
            "digest": f"sha256:{digest}",
            "version": version,
        }

    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelRelease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "modelName": "loan-default",
            "stable": artifact("v1"),
            "candidate": artifact("v2"),
            "serving": {"replicas": 1},
            "stages": [{"weight": 50, "duration": "1h"}, {"weight": 100, "duration": "1h"}],
            "analysis": {
                "interval": "1s",
                "unavailableLimit": 0,
                "provider": {
                    "type": "prometheus",
                    "prometheus": {"address": "http://127.0.0.1:1", "timeoutSeconds": 1},
                },
            },
        },
    }


def training(name: str) -> dict[str, Any]:
    document = yaml.safe_load((REPO / "manifests/examples/training-loan-default.yaml").read_text())
    document["metadata"] = {"name": name}
    return dict(document)


@pytest.fixture
def namespaced(
    control_plane: ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    operator_process: OperatorProcess,
    tmp_path: Path,
) -> Iterator[Install]:
    core = kubernetes.client.CoreV1Api(kube_api)
    operator_namespace = f"mr-ns-system-{secrets.token_hex(3)}"
    watched = fresh_namespace(core, "mr-ns-watched")
    other = fresh_namespace(core, "mr-ns-other")
    (tmp_path / "kustomize").mkdir()
    documents = relocate(render(control_plane, tmp_path / "kustomize"), operator_namespace, watched)
    # The operator runs as a process here, not as the Deployment (kwok's pods run nothing).
    applied = [d for d in documents if d["kind"] != "Deployment"]
    kubectl(control_plane, "apply", "-f", "-", input=yaml.safe_dump_all(applied))
    kubeconfig = service_account_kubeconfig(
        kube_api, tmp_path / "kubeconfig", namespace=operator_namespace, service_account=NAME
    )
    # Run as the Deployment runs it: its Kopf options and its environment.
    (container,) = next(d for d in documents if d["kind"] == "Deployment")["spec"]["template"][
        "spec"
    ]["containers"]
    scope = tuple(a for a in container["args"] if a.startswith(("--namespace", "--all-names")))
    assert [a for a in container["args"] if a not in scope] == KOPF_RUN
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    del env["MODELRELEASE_METRICS_PORT"]  # the process's own free port
    env |= {"POD_NAME": "namespaced-operator", "POD_NAMESPACE": operator_namespace}
    operator = OperatorProcess(kubeconfig, tmp_path, name="namespaced", env=env, scope=scope)
    was_running = operator_process.alive()
    operator_process.stop()  # the session's operator watches every namespace
    try:
        yield Install(operator_namespace, watched, other, NAME, documents, operator)
    finally:
        operator.stop()
        if was_running:
            operator_process.start()
        for namespace in (watched, other, operator_namespace):
            core.delete_namespace(namespace)


def test_the_component_swaps_the_cluster_wide_rights_for_roles(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """As shipped: no ClusterRole or binding; every rule of the cluster-wide ClusterRole
    but the CRDs' in a Role in the watched namespace; the leader election Role kept;
    Kopf's options and the variable agree."""
    documents = {
        (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
        for d in render(control_plane, tmp_path)
    }
    assert not [key for key in documents if key[0] in ("ClusterRole", "ClusterRoleBinding")]
    role = documents[("Role", WATCHED, NAME)]
    assert {"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get"]} in role["rules"]
    binding = documents[("RoleBinding", WATCHED, NAME)]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": NAME,
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": NAME, "namespace": OPERATOR_NAMESPACE}
    ]
    assert ("Role", OPERATOR_NAMESPACE, f"{NAME}-leader-election") in documents
    assert ("RoleBinding", OPERATOR_NAMESPACE, f"{NAME}-leader-election") in documents
    cluster_wide = yaml.safe_load_all((REPO / "manifests" / "rbac.yaml").read_text())
    (everything,) = [d for d in cluster_wide if d and d["kind"] == "ClusterRole"]
    assert everything["rules"][0]["resources"] == ["customresourcedefinitions"]
    assert everything["rules"][1:] == role["rules"]
    (container,) = documents[("Deployment", OPERATOR_NAMESPACE, NAME)]["spec"]["template"]["spec"][
        "containers"
    ]
    assert f"--namespace={WATCHED}" in container["args"]
    assert "--all-namespaces" not in container["args"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MODELRELEASE_WATCH_NAMESPACES"] == WATCHED
    assert env["MODELRELEASE_LEADER_ELECTION"] == "true"


def can_i(control_plane: ControlPlane, install: Install, *request: str) -> str:
    """`kubectl auth can-i` as the install's ServiceAccount: "yes" or "no"."""
    who = f"system:serviceaccount:{install.operator_namespace}:{install.service_account}"
    done = kubectl(control_plane, "auth", "can-i", *request, f"--as={who}", check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.stdout.strip()


def test_its_service_account_may_proxy_to_pods_in_the_watched_namespace_only(
    control_plane: ControlPlane, namespaced: Install
) -> None:
    install = namespaced
    assert can_i(control_plane, install, "get", "pods/proxy", "-n", install.watched) == "yes"
    assert can_i(control_plane, install, "get", "pods/proxy", "-n", install.other) == "no"
    assert can_i(control_plane, install, "get", "pods/proxy", "-n", "kube-system") == "no"
    assert can_i(control_plane, install, "get", "pods/proxy", "--all-namespaces") == "no"
    for verb, resource in [
        ("list", "modelreleases.modelrelease.dev"),
        ("create", "deployments.apps"),
        ("list", "pods"),
        ("create", "jobs.batch"),
    ]:
        assert can_i(control_plane, install, verb, resource, "-n", install.watched) == "yes"
        assert can_i(control_plane, install, verb, resource, "-n", install.other) == "no"
        assert can_i(control_plane, install, verb, resource, "--all-namespaces") == "no"
    # Nothing at cluster scope.
    for resource in ("customresourcedefinitions", "namespaces", "nodes", "secrets"):
        assert can_i(control_plane, install, "list", resource, "--all-namespaces") == "no"
    # Leader election: its Lease in its own namespace.
    lease = ("leases.coordination.k8s.io", "-n", install.operator_namespace)
    assert can_i(control_plane, install, "create", *lease) == "yes"
    assert can_i(control_plane, install, "update", f"{lease[0]}/{NAME}", *lease[1:]) == "yes"


def status_of(custom: kubernetes.client.CustomObjectsApi, plural: str, ns: str, name: str) -> Any:
    return custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name).get("status")


def test_it_acts_in_the_watched_namespace_and_touches_nothing_in_another(
    kube_api: kubernetes.client.ApiClient, namespaced: Install
) -> None:
    install = namespaced
    operator = install.operator
    custom = kubernetes.client.CustomObjectsApi(kube_api)
    apps = kubernetes.client.AppsV1Api(kube_api)
    batch = kubernetes.client.BatchV1Api(kube_api)
    for namespace in (install.watched, install.other):
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, "modelreleases", release("loan", namespace)
        )
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, "modeltrainings", training("loan-v1")
        )
    operator.start()
    wait = Waiter(kube_api, install.watched, lambda: f"operator log:\n{operator.tail(80)}")
    wait.until(
        lambda: operator.text().count("leader election: namespaced-operator leads"),
        what="the operator to lead on its Lease in its own namespace",
        timeout=60,
    )
    wait.until(
        lambda: (
            (status_of(custom, "modelreleases", install.watched, "loan") or {}).get(
                "candidateWeight"
            )
            == 50
        ),
        what="the release in the watched namespace at its first stage",
    )
    deployments = apps.list_namespaced_deployment(
        install.watched, label_selector=f"{RELEASE_LABEL}=loan"
    ).items
    assert len(deployments) == 2
    wait.until(
        lambda: (status_of(custom, "modeltrainings", install.watched, "loan-v1") or {}).get(
            "phase"
        ),
        what="the training in the watched namespace to have a phase",
    )
    assert batch.list_namespaced_job(
        install.watched, label_selector=f"{TRAINING_LABEL}=loan-v1"
    ).items
    # Two resync passes (5 s each here) later, nothing in the other namespace was touched.
    time.sleep(12)
    assert operator.alive()
    for plural, name in (("modelreleases", "loan"), ("modeltrainings", "loan-v1")):
        assert status_of(custom, plural, install.other, name) in (None, {}), plural
    assert not apps.list_namespaced_deployment(install.other).items
    assert not batch.list_namespaced_job(install.other).items
    assert not kubernetes.client.CoreV1Api(kube_api).list_namespaced_service(install.other).items
    # Neither Kopf nor the operator's own calls reached beyond what it may: no call refused.
    refused = [line for line in operator.text().splitlines() if "403" in line or "orbidden" in line]
    assert not refused, "\n".join(refused)


def test_it_refuses_to_start_when_kopf_watches_every_namespace(namespaced: Install) -> None:
    """MODELRELEASE_WATCH_NAMESPACES without the same `--namespace`s: a usage error
    before anything is watched (the install's RBAC would refuse it everywhere else)."""
    operator = copy.copy(namespaced.operator)
    operator.scope = ("--all-namespaces",)
    operator.name, operator.log = "mismatched", namespaced.operator.workdir / "mismatched.log"
    operator.start(wait=False)
    deadline = time.monotonic() + 60
    while operator.alive() and time.monotonic() < deadline:
        time.sleep(0.25)
    assert not operator.alive(), operator.tail()
    assert f"run kopf run --namespace={namespaced.watched}" in operator.text(), operator.tail()
