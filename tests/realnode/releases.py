"""The example release, made quick for a test: the same router, provider (`scrape`, the
default), gates and serving image, with shorter stages, small CPU requests (the node
has two cores) and no gate on online accuracy (feedback sent through a Service mostly
reaches a pod that never saw the prediction; each pod keeps its own)."""

from __future__ import annotations

import copy
import time
from typing import Any

import kubernetes
import yaml
from modelrelease_operator.api import GROUP, VERSION

from tests.controlplane.cluster import ControlPlane

from . import deploy

PLURAL = "modelreleases"
#: Long enough for the drift gate's samples at traffic.py's rate, so a stage ends on
#: time and the decision latency is the operator's, not the wait for samples.
STAGE_SECONDS = 40
FINAL = ("Succeeded", "RolledBack", "Failed")


def manifest(name: str, candidate: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    (document,) = deploy.example("release-loan-default.yaml")
    release = copy.deepcopy(document)
    release["metadata"] = {"name": name}
    spec = release["spec"]
    spec["candidate"] = candidate
    spec["serving"]["resources"] = {
        "cpu": "50m",
        "memory": "192Mi",
        "cpuLimit": "1",
        "memoryLimit": "512Mi",
    }
    spec["stages"] = [
        {"weight": weight, "duration": f"{STAGE_SECONDS}s", "minRequests": 100}
        for weight in (25, 50, 100)
    ]
    analysis = spec["analysis"]
    analysis["interval"] = "5s"
    analysis["inconclusive"] = "Wait"
    gates = analysis["gates"]
    del gates["accuracy"]
    del gates["relative"]["latency"]  # two busy shared cores: ratios of p99s are noise
    gates["latency"]["maxSeconds"] = 1.0
    # PSI over 21 buckets reads about 20/n from sampling alone: at the example's 0.2 a
    # good candidate needs a few hundred predictions not to look drifted.
    gates["drift"]["minPredictions"] = 300
    spec["readinessDeadline"] = "3m"
    spec.update(overrides)
    return release


def apply(cluster: ControlPlane, namespace: str, release: dict[str, Any]) -> None:
    deploy.kubectl(cluster, "apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(release))


def status(api: kubernetes.client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    found = kubernetes.client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name
    )
    result: dict[str, Any] = found.get("status") or {}
    return result


def service_url(api: kubernetes.client.ApiClient, namespace: str, name: str) -> str | None:
    try:
        service = kubernetes.client.CoreV1Api(api).read_namespaced_service(name, namespace)
    except kubernetes.client.ApiException:
        return None
    return f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}"


def wait_final(
    api: kubernetes.client.ApiClient, namespace: str, name: str, timeout: float, context: Any
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = status(api, namespace, name)
        if found.get("phase") in FINAL:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"release {name} still {found.get('phase')}: {found}\n{context()}")
        time.sleep(1)
