"""The traffic split the operator applied, read back from the API server.

This machine has no data plane: the operator's Deployments run as kwok pods that do
nothing, and no Service proxy or gateway moves packets. So the tests emulate one: the
load generator sends each request to the serving process of the version that the
cluster's routing objects give it, as a Service (replicas router) or a Gateway
(gateway-api router) honouring those objects would. Everything upstream of that choice
(the operator's decisions and the objects it writes) is real.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import kubernetes
from modelrelease_operator.labels import RELEASE_LABEL

VERSION_ENV = "MODELRELEASE_SERVER_MODEL_VERSION"
#: Where a serving object may say which model version it serves, most specific first.
VERSION_LABELS = ("modelrelease.dev/version", "app.kubernetes.io/version")

Weights = dict[str, float]  # version → share of traffic, summing to 1 (empty: no route)


def _owned_by(obj: Mapping[str, Any], release: str) -> bool:
    metadata = obj.get("metadata") or {}
    if (metadata.get("labels") or {}).get(RELEASE_LABEL) == release:
        return True
    return any(
        ref.get("kind") == "ModelRelease" and ref.get("name") == release
        for ref in metadata.get("ownerReferences") or []
    )


def _label_version(labels: Mapping[str, str] | None) -> str | None:
    for key in VERSION_LABELS:
        if labels and labels.get(key):
            return labels[key]
    return None


def deployment_version(deployment: Mapping[str, Any]) -> str | None:
    """The model version a serving Deployment runs: its container's version setting, else
    a version label on its pod template or itself."""
    template = (deployment.get("spec") or {}).get("template") or {}
    for container in (template.get("spec") or {}).get("containers") or []:
        for variable in container.get("env") or []:
            if variable.get("name") == VERSION_ENV and variable.get("value"):
                return str(variable["value"])
    return _label_version((template.get("metadata") or {}).get("labels")) or _label_version(
        (deployment.get("metadata") or {}).get("labels")
    )


def _shares(amounts: Iterable[tuple[str, float]]) -> Weights:
    totals: dict[str, float] = {}
    for version, amount in amounts:
        totals[version] = totals.get(version, 0.0) + max(0.0, amount)
    whole = sum(totals.values())
    return {v: a / whole for v, a in totals.items() if a > 0} if whole > 0 else {}


def replica_weights(deployments: Iterable[Mapping[str, Any]]) -> Weights:
    """`replicas` router: one Service selects every version's pods, so each version gets
    its share of the replicas the Deployments ask for."""
    found = []
    for deployment in deployments:
        version = deployment_version(deployment)
        if version is not None:
            found.append((version, float((deployment.get("spec") or {}).get("replicas") or 0)))
    return _shares(found)


def route_weights(route: Mapping[str, Any], services: Mapping[str, Mapping[str, Any]]) -> Weights:
    """`gateway-api` router: the HTTPRoute's backendRefs weights (default 1), each backend
    Service mapped to its version by its labels or selector."""
    found = []
    for rule in (route.get("spec") or {}).get("rules") or []:
        for ref in rule.get("backendRefs") or []:
            service = services.get(ref.get("name", ""))
            if service is None:
                continue
            version = _label_version((service.get("spec") or {}).get("selector")) or (
                _label_version((service.get("metadata") or {}).get("labels"))
            )
            if version is not None:
                found.append((version, float(ref.get("weight", 1))))
    return _shares(found)


class ClusterRouting:
    """Reads the weights one ModelRelease's objects give each version."""

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str, release: str) -> None:
        self.api = api
        self.namespace = namespace
        self.release = release
        self.apps = kubernetes.client.AppsV1Api(api)
        self.core = kubernetes.client.CoreV1Api(api)
        self.custom = kubernetes.client.CustomObjectsApi(api)

    def _plain(self, obj: object) -> dict[str, Any]:
        plain: dict[str, Any] = self.api.sanitize_for_serialization(obj)
        return plain

    def deployments(self) -> list[dict[str, Any]]:
        listed = self.apps.list_namespaced_deployment(self.namespace)
        found = [self._plain(d) for d in listed.items]
        return [d for d in found if _owned_by(d, self.release)]

    def replica_weights(self) -> Weights:
        return replica_weights(self.deployments())

    def route_weights(self) -> Weights:
        routes = self.custom.list_namespaced_custom_object(
            "gateway.networking.k8s.io", "v1", self.namespace, "httproutes"
        )["items"]
        mine = [r for r in routes if _owned_by(r, self.release)]
        if not mine:
            return {}
        listed = self.core.list_namespaced_service(self.namespace).items
        services = {s["metadata"]["name"]: s for s in (self._plain(x) for x in listed)}
        return route_weights(mine[0], services)

    def weights(self, router: str) -> Weights:
        return self.route_weights() if router == "gateway-api" else self.replica_weights()
