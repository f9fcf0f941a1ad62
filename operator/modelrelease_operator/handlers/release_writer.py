"""Make the cluster what a release's status says: its Deployments, Services and route,
and the ModelTraining a retraining decided.

Only writes; what to write is `release.routing` and `release.retraining`, decided from
status alone. Objects are applied server-side (idempotent, and fields someone changed by
hand are taken back), but never adopted: an object of the same name that this release
does not control is left alone and reported, so that the garbage collector can never
delete something the release did not make.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from typing import Any, cast

import kubernetes

from .. import events, kube, labels
from ..api import GROUP, VERSION
from ..api.release import ModelReleaseSpec, ModelReleaseStatus
from ..release import patches, retraining, routing
from . import release_world, watched

log = logging.getLogger(__name__)
FIELD_MANAGER = "modelrelease-operator"
#: (kind, namespace, name, release uid) seen controlled by that release: the ownership
#: check reads each object once per operator process, not on every tick.
_controlled: set[tuple[str, str, str, str]] = set()
#: Objects already reported as not ours (one Event per object and process).
_reported: set[tuple[str, str, str, str]] = set()
_lock = threading.Lock()


class NotOwned(Exception):
    """An object the release would write exists and another owner (or none) controls it."""


def _read(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    if kind == "Deployment":
        found = kube.get_or_none(release_world.apps().read_namespaced_deployment, name, namespace)
    elif kind == "Service":
        found = kube.get_or_none(kube.core().read_namespaced_service, name, namespace)
    elif kind == "HTTPRoute":
        found = kube.get_or_none(
            kube.custom().get_namespaced_custom_object,
            routing.GATEWAY_GROUP,
            "v1",
            namespace,
            "httproutes",
            name,
        )
    else:
        raise ValueError(f"cannot read a {kind}")
    if found is None:
        return None
    return found if isinstance(found, dict) else kube.plain(found)


def controller_uid(found: dict[str, Any]) -> str | None:
    """The uid of the object's controlling owner, if it has one."""
    for ref in (found.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def check_ownership(manifest: dict[str, Any], uid: str, live: dict[str, Any] | None = None) -> None:
    """Raise NotOwned when an object of this name exists that `uid` does not control.
    `live`: the object as the watch saw it, when it did (else it is read)."""
    meta = manifest["metadata"]
    key = (manifest["kind"], meta["namespace"], meta["name"], uid)
    with _lock:
        if key in _controlled:
            return
    found = live or _read(manifest["kind"], meta["namespace"], meta["name"])
    if found is None:
        return  # created by this apply; confirmed as ours on a later tick
    owner = controller_uid(found)
    if owner != uid:
        whose = f"controlled by uid {owner}" if owner else "not controlled by any owner"
        raise NotOwned(
            f"{manifest['kind']} {meta['name']} already exists and is {whose}: refusing to "
            "adopt it (rename or delete it, or rename the release)"
        )
    with _lock:
        _controlled.add(key)


def apply_body(manifest: dict[str, Any]) -> bytes:
    """The apply request's body, serialized here rather than by the client: the client's
    json.dumps escapes characters beyond the BMP as UTF-16 surrogate pairs, which the
    API server's YAML decoder refuses (400), so an emoji in an env value would stall the
    release. UTF-8 JSON is YAML the server reads as written."""
    return json.dumps(manifest, ensure_ascii=False).encode("utf-8")


#: Where each kind is applied: its API group's path, and the resource's plural.
RESOURCE_PATHS = {
    "Deployment": "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
    "Service": "/api/v1/namespaces/{namespace}/services/{name}",
    "HTTPRoute": f"/apis/{routing.GATEWAY_GROUP}/v1/namespaces/{{namespace}}/httproutes/{{name}}",
}


def _apply(manifest: dict[str, Any]) -> None:
    """Server-side apply: idempotent, and it takes back fields someone changed by hand."""
    meta = manifest["metadata"]
    path = RESOURCE_PATHS.get(manifest["kind"])
    if path is None:
        raise ValueError(f"cannot apply a {manifest['kind']}")
    kube.server_side_apply(
        path.format(namespace=meta["namespace"], name=meta["name"]),
        apply_body(manifest),
        field_manager=FIELD_MANAGER,
    )


def _owned(items: list[Any], uid: str) -> list[str]:
    names = []
    for item in items:
        meta = item["metadata"] if isinstance(item, dict) else kube.plain(item)["metadata"]
        if any(ref.get("uid") == uid for ref in meta.get("ownerReferences") or []):
            names.append(meta["name"])
    return names


def _prune(desired: routing.Desired, namespace: str, name: str, uid: str) -> None:
    """Delete what this release made and status no longer asks for (a replaced candidate,
    the other router's Services or route)."""
    selector = f"{labels.RELEASE_LABEL}={name}"
    keep = {m["metadata"]["name"] for m in desired.deployments}
    deployments = watched.DEPLOYMENTS.of((namespace, name))
    if deployments is None:
        listed = release_world.apps().list_namespaced_deployment(namespace, label_selector=selector)
        deployments = [kube.plain(item) for item in listed.items]
    for gone in set(_owned(deployments, uid)) - keep:
        kube.get_or_none(release_world.apps().delete_namespaced_deployment, gone, namespace)
    keep = {m["metadata"]["name"] for m in desired.services}
    services = watched.SERVICES.of((namespace, name))
    if services is None:
        listed_services = kube.core().list_namespaced_service(namespace, label_selector=selector)
        services = [kube.plain(item) for item in listed_services.items]
    for gone in set(_owned(services, uid)) - keep:
        kube.get_or_none(kube.core().delete_namespaced_service, gone, namespace)
    if not desired.routes and not _gateway_api_installed():
        return
    keep = {m["metadata"]["name"] for m in desired.routes}
    try:
        routes = kube.custom().list_namespaced_custom_object(
            routing.GATEWAY_GROUP, "v1", namespace, "httproutes", label_selector=selector
        )
    except kubernetes.client.ApiException as error:
        if error.status == 404:  # the Gateway API is not installed: no routes to prune
            _gateway_api_checked[0] = time.monotonic()
            return
        raise
    for gone in set(_owned(cast(dict[str, Any], routes).get("items", []), uid)) - keep:
        kube.get_or_none(
            kube.custom().delete_namespaced_custom_object,
            routing.GATEWAY_GROUP,
            "v1",
            namespace,
            "httproutes",
            gone,
        )


#: When the Gateway API was last found missing (monotonic seconds): a release with no
#: route then looks for leftover routes only every GATEWAY_API_RECHECK seconds instead of
#: asking the API server for a kind it does not serve on every tick.
_gateway_api_checked: list[float] = [-math.inf]
GATEWAY_API_RECHECK = 300.0


def _gateway_api_installed() -> bool:
    return time.monotonic() - _gateway_api_checked[0] > GATEWAY_API_RECHECK


def _watched(kind: str) -> watched.Watched | None:
    return {"Deployment": watched.DEPLOYMENTS, "Service": watched.SERVICES}.get(kind)


def _report(body: dict[str, Any], manifest: dict[str, Any], uid: str, error: NotOwned) -> None:
    meta = manifest["metadata"]
    key = (manifest["kind"], meta["namespace"], meta["name"], uid)
    with _lock:
        if key in _reported:
            return
        _reported.add(key)
    log.warning("%s/%s: %s", meta["namespace"], body["metadata"]["name"], error)
    events.post(body, type="Warning", reason="NotOwned", message=str(error))


def converge(spec: ModelReleaseSpec, status: ModelReleaseStatus, body: dict[str, Any]) -> None:
    """Make the Deployments, Services and route what status says: scale up first, then
    point traffic, then remove what is no longer needed. An object another owner
    controls is skipped (and reported); the rest are still applied."""
    meta = body["metadata"]
    namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
    desired = routing.desired(spec, status, routing.Owner(name, namespace, uid))
    for manifest in [*desired.deployments, *desired.services, *desired.routes]:
        cache = _watched(manifest["kind"])
        live = cache.get((namespace, name), manifest["metadata"]["name"]) if cache else None
        try:
            check_ownership(manifest, uid, live)
        except NotOwned as error:
            _report(body, manifest, uid, error)
            continue
        if live is not None and patches.contains(live, manifest):
            continue  # already what the apply would make: most ticks change nothing
        _apply(manifest)
    _prune(desired, namespace, name, uid)


def create_retraining(
    spec: ModelReleaseSpec, status: ModelReleaseStatus, body: dict[str, Any]
) -> None:
    """Create the ModelTraining that status.retraining.current decided, once."""
    current = status.retraining.current if status.retraining else None
    if current is None or current.phase != "Creating" or spec.retraining is None:
        return
    meta = body["metadata"]
    manifest = retraining.manifest(
        spec, current, release=meta["name"], namespace=meta["namespace"], uid=meta["uid"]
    )
    try:
        kube.custom().create_namespaced_custom_object(
            GROUP, VERSION, meta["namespace"], release_world.TRAININGS, manifest
        )
    except kubernetes.client.ApiException as error:
        if error.status == 409:  # created on an earlier tick that died before its status
            return
        if 400 <= error.status < 500:
            # The API server refused the template: say so where users look, retry later.
            events.post(
                body,
                type="Warning",
                reason="RetrainingRefused",
                message=f"cannot create ModelTraining {current.name}: {error.body}"[:1000],
            )
            return
        raise
