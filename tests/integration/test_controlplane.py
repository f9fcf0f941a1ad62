"""The control plane itself: what the operator's tests take for granted."""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.nodes import CPU_NODES, GPU_NODE, GPU_RESOURCE

from .waiting import Waiter

RESTRICTED_POD = {
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
}
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


def _pod_spec(**extra: Any) -> dict[str, Any]:
    return {
        **RESTRICTED_POD,
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "main",
                "image": "example.invalid/app:1",
                "securityContext": RESTRICTED_CONTAINER,
            }
        ],
        **extra,
    }


def _job(name: str, annotations: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {"metadata": {"annotations": annotations}, "spec": _pod_spec(**spec)},
        },
    }


def _job_pod(core: kubernetes.client.CoreV1Api, namespace: str, job: str) -> Any:
    pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items
    return pods[0] if pods else None


def test_reports_its_version(control_plane: ControlPlane) -> None:
    assert control_plane.version.startswith("v1.")


def test_nodes_are_ready_with_their_capacity(kube_api: kubernetes.client.ApiClient) -> None:
    nodes = {n.metadata.name: n for n in kubernetes.client.CoreV1Api(kube_api).list_node().items}
    assert set(nodes) == {n.name for n in (*CPU_NODES, GPU_NODE)}
    gpu = nodes[GPU_NODE.name]
    assert gpu.status.allocatable[GPU_RESOURCE] == "1"
    assert [(t.key, t.effect) for t in gpu.spec.taints] == [(GPU_RESOURCE, "NoSchedule")]
    for node in nodes.values():
        assert any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)


def test_deployment_pods_become_ready(
    kube_api: kubernetes.client.ApiClient, namespace: str, wait: Waiter
) -> None:
    apps = kubernetes.client.AppsV1Api(kube_api)
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {**_pod_spec(), "restartPolicy": "Always"},
                },
            },
        },
    )
    wait.until(
        lambda: (
            (apps.read_namespaced_deployment("web", namespace).status.available_replicas or 0) == 2
        ),
        what="2 available replicas",
    )


@pytest.mark.parametrize(
    ("outcome", "phase", "code", "reason"),
    [("succeed", "Succeeded", 0, "Completed"), ("fail", "Failed", 1, "Error")],
)
def test_job_pod_ends_as_annotated(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    wait: Waiter,
    outcome: str,
    phase: str,
    code: int,
    reason: str,
) -> None:
    core = kubernetes.client.CoreV1Api(kube_api)
    batch = kubernetes.client.BatchV1Api(kube_api)
    message = '{"metrics": {"roc_auc": 0.9}, "note": "quotes \\" and: colons"}'
    batch.create_namespaced_job(
        namespace,
        _job(
            "j",
            {
                "kwok.modelrelease.dev/outcome": outcome,
                "kwok.modelrelease.dev/termination-message": message,
                "kwok.modelrelease.dev/delay": "1s",
            },
        ),
    )
    pod = wait.until(
        lambda: (p := _job_pod(core, namespace, "j")) and p.status.phase == phase and p,
        what=f"the Job's pod to reach {phase}",
    )
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason, terminated.message) == (code, reason, message)
    condition = "Complete" if outcome == "succeed" else "Failed"
    wait.until(
        lambda: any(
            c.type == condition and c.status == "True"
            for c in batch.read_namespaced_job("j", namespace).status.conditions or []
        ),
        what=f"Job condition {condition}",
    )


def test_pod_without_outcome_keeps_running(
    kube_api: kubernetes.client.ApiClient, namespace: str, wait: Waiter
) -> None:
    core = kubernetes.client.CoreV1Api(kube_api)
    kubernetes.client.BatchV1Api(kube_api).create_namespaced_job(namespace, _job("j", {}))
    pod = wait.until(
        lambda: (p := _job_pod(core, namespace, "j")) and p.status.phase == "Running" and p,
        what="a Running pod",
    )
    assert pod.spec.node_name in {n.name for n in CPU_NODES}
    assert pod.status.container_statuses[0].ready


def test_restricted_namespace_refuses_a_privileged_pod(
    kube_api: kubernetes.client.ApiClient, namespace: str
) -> None:
    core = kubernetes.client.CoreV1Api(kube_api)
    with pytest.raises(kubernetes.client.ApiException) as refused:
        core.create_namespaced_pod(
            namespace,
            {
                "metadata": {"name": "root"},
                "spec": {"containers": [{"name": "main", "image": "example.invalid/app:1"}]},
            },
        )
    assert refused.value.status == 403
    assert "violates PodSecurity" in refused.value.body
