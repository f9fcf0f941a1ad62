"""The real node runs a locally built image under the restricted Pod Security profile:
readiness probe, the API server's pod proxy, a ClusterIP Service from the host, logs."""

from __future__ import annotations

import ipaddress
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import kubernetes
import pytest

from tests.controlplane import nodeimages
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.nodeconfig import POD_CIDR, REAL_NODE_LABEL, REAL_NODE_SELECTOR

pytestmark = [pytest.mark.realnode, pytest.mark.timeout(1800)]  # a cold build included

T = TypeVar("T")
NAMESPACE = "realnode-smoke"
TEXT = "hello from the real node\n"


def eventually(check: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as error:  # not there yet
            last = error
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def restricted_pod(name: str) -> Any:  # the client takes plain dicts too
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "nodeSelector": dict(REAL_NODE_SELECTOR),
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "runAsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "terminationGracePeriodSeconds": 2,
            "containers": [
                {
                    "name": "web",
                    "image": nodeimages.WEBSERVE_IMAGE,
                    "imagePullPolicy": "Never",
                    "args": ["-listen=:8080", f"-text={TEXT}"],
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": {
                        "httpGet": {"path": "/healthz", "port": "http"},
                        "periodSeconds": 1,
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def test_restricted_pod_serves_through_proxy_and_service(
    real_cluster: ControlPlane, webserve_archive: Path
) -> None:
    node = real_cluster.real_node
    assert node is not None
    with real_cluster.api_client() as api:
        core = kubernetes.client.CoreV1Api(api)

        # The node registered with its label, Ready, beside kwok's nodes.
        labelled = core.list_node(label_selector=node.label).items
        assert [n.metadata.name for n in labelled if n.metadata] == [node.name]
        status = labelled[0].status
        conditions = {c.type: c.status for c in (status.conditions if status else None) or []}
        assert conditions["Ready"] == "True"
        kwok = core.list_node(label_selector="type=kwok").items
        assert len(kwok) == len(real_cluster.nodes)
        assert not any(REAL_NODE_LABEL in ((n.metadata and n.metadata.labels) or {}) for n in kwok)

        digest = node.import_image(webserve_archive)
        assert digest.startswith("sha256:")

        namespace: Any = {
            "metadata": {
                "name": NAMESPACE,
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            }
        }
        core.create_namespace(namespace)
        eventually(lambda: core.read_namespaced_service_account("default", NAMESPACE), "SA")
        core.create_namespaced_pod(NAMESPACE, restricted_pod("web"))

        def ready() -> kubernetes.client.V1Pod | None:
            pod = core.read_namespaced_pod("web", NAMESPACE)
            status = pod.status
            conditions = (status.conditions if status else None) or []
            is_ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
            return pod if is_ready else None

        pod = eventually(ready, "the pod Ready (its readiness probe passing)", timeout=90)
        assert pod.spec is not None and pod.spec.node_name == node.name
        assert pod.status is not None and pod.status.pod_ip is not None
        assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network(POD_CIDR)

        # The API server reaches the pod through its proxy.
        proxied = core.connect_get_namespaced_pod_proxy_with_path("web:8080", NAMESPACE, "")
        assert proxied == TEXT

        # A ClusterIP Service routes to it from the host (kube-proxy's iptables rules).
        service: Any = {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
        }
        created = core.create_namespaced_service(NAMESPACE, service)
        cluster_ip = created.spec.cluster_ip if created.spec else None
        assert cluster_ip

        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy

        def through_service() -> str:
            with direct.open(f"http://{cluster_ip}/", timeout=3) as answer:
                return str(answer.read().decode())

        assert eventually(through_service, f"the Service at {cluster_ip}", timeout=60) == TEXT

        # Logs come from the kubelet (the API server authenticated to it).
        logs = core.read_namespaced_pod_log("web", NAMESPACE)
        assert "serving on :8080" in logs
        assert "GET / from" in logs
