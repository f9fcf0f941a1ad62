"""The chart's leader election (docs/operations.md): on by default, two replicas rolling,
a Role on the one Lease the operator is told to use; off, one replica recreated."""

from __future__ import annotations

from typing import Any

import pytest

from tests.controlplane import binaries

from .test_chart import NAMESPACE, Helm, container, deployment


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """The pinned helm (built once, then cached), as test_chart.py runs it."""
    return Helm(binaries.ensure().bin_dir / "helm", tmp_path_factory.mktemp("helm"))


def env(rendered: dict[Any, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(rendered)["env"]}


def test_on_by_default_with_a_role_on_the_lease_it_names(chart: Helm) -> None:
    rendered = chart.render(release="ml", namespace="ml-platform")
    operator = "ml-modelrelease-operator"
    spec = deployment(rendered)["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["type"] == "RollingUpdate"
    variables = env(rendered)
    assert variables["MODELRELEASE_LEADER_ELECTION"] == "true"
    assert variables["MODELRELEASE_LEADER_LEASE"] == operator
    assert variables["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert variables["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    role = rendered[("Role", "ml-platform", f"{operator}-leader-election")]
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [operator],
            "verbs": ["get", "update"],
        },
    ]
    binding = rendered[("RoleBinding", "ml-platform", f"{operator}-leader-election")]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": operator, "namespace": "ml-platform"}
    ]


def test_off_one_replica_recreated_and_no_role(chart: Helm) -> None:
    rendered = chart.render({"replicas": 1, "leaderElection": {"enabled": False}})
    spec = deployment(rendered)["spec"]
    assert (spec["replicas"], spec["strategy"]) == (1, {"type": "Recreate"})
    assert env(rendered)["MODELRELEASE_LEADER_ELECTION"] == "false"
    assert "POD_NAME" not in env(rendered)
    assert not [key for key in rendered if key[0] in ("Role", "RoleBinding")]
    assert ("ClusterRole", "", "modelrelease-operator") in rendered
    assert deployment(rendered)["metadata"]["namespace"] == NAMESPACE
