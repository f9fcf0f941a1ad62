"""ModelRelease handlers: read → decide → write status → make the cluster match it.

Each release is looked at on a tick of its analysis interval (at most every 5 s, so
commands and readiness are acted on quickly), from one loop for all releases; changes to
the release and to its Deployments reconcile at once too. ModelTrainings that
spec.candidate.fromTrainings follows are listed on that tick: a new or finished training
is acted on within the analysis interval, with no watch of its own. Status is written before the
cluster is changed, and the cluster is always rebuilt from status, so an operator killed
at any point resumes where it was.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import kopf
import kubernetes
from pydantic import ValidationError

from .. import events, kube, labels
from ..api import GROUP, VERSION
from ..api.release import CandidateSelection, ModelReleaseSpec, ModelReleaseStatus
from ..config import from_environment
from ..release import candidates, retraining, routing
from ..release.commands import COMMAND_ANNOTATION
from ..release.decide import Decision, Observations, Resolution, decide
from ..release.patches import merge_patch
from . import release_metrics, release_world
from .resync import Logger, every

PLURAL = "modelreleases"
FIELD_MANAGER = "modelrelease-operator"
APPLY = "application/apply-patch+yaml"
CONFIG = from_environment()
_locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
#: When each known release is next looked at (monotonic seconds). Only a schedule:
#: after a restart Kopf's initial listing fills it again, and all state is in status.
_due: dict[tuple[str, str], float] = {}
TICK_GRANULARITY = 0.5


def _take_command(body: dict[str, Any], namespace: str, name: str) -> str | None:
    """Remove the command annotation, and return it only if this call removed it.

    The JSON patch tests the value first: of two racing reconciles only one wins, and a
    command is acted on at most once (a lost command is visible and can be repeated; a
    promotion done twice cannot be undone).
    """
    command = (body["metadata"].get("annotations") or {}).get(COMMAND_ANNOTATION)
    if not command:
        return None
    path = "/metadata/annotations/" + COMMAND_ANNOTATION.replace("~", "~0").replace("/", "~1")
    try:
        updated = kube.custom().patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            [{"op": "test", "path": path, "value": command}, {"op": "remove", "path": path}],
            _content_type="application/json-patch+json",
        )
    except kubernetes.client.ApiException as error:
        if error.status in {409, 422}:
            return None
        raise
    body["metadata"]["resourceVersion"] = cast(dict[str, Any], updated)["metadata"][
        "resourceVersion"
    ]
    return str(command)


def _apply(manifest: dict[str, Any]) -> None:
    """Server-side apply: idempotent, and it takes back fields someone changed by hand."""
    meta = manifest["metadata"]
    kind = manifest["kind"]
    common: dict[str, Any] = {
        "field_manager": FIELD_MANAGER,
        "force": True,
        "_content_type": APPLY,
    }
    if kind == "Deployment":
        release_world.apps().patch_namespaced_deployment(
            meta["name"], meta["namespace"], manifest, **common
        )
    elif kind == "Service":
        kube.core().patch_namespaced_service(meta["name"], meta["namespace"], manifest, **common)
    elif kind == "HTTPRoute":
        kube.custom().patch_namespaced_custom_object(
            routing.GATEWAY_GROUP,
            "v1",
            meta["namespace"],
            "httproutes",
            meta["name"],
            manifest,
            **common,
        )
    else:
        raise ValueError(f"cannot apply a {kind}")


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
    found = release_world.apps().list_namespaced_deployment(namespace, label_selector=selector)
    for gone in set(_owned(found.items, uid)) - keep:
        kube.get_or_none(release_world.apps().delete_namespaced_deployment, gone, namespace)
    keep = {m["metadata"]["name"] for m in desired.services}
    services = kube.core().list_namespaced_service(namespace, label_selector=selector)
    for gone in set(_owned(services.items, uid)) - keep:
        kube.get_or_none(kube.core().delete_namespaced_service, gone, namespace)
    keep = {m["metadata"]["name"] for m in desired.routes}
    try:
        routes = kube.custom().list_namespaced_custom_object(
            routing.GATEWAY_GROUP, "v1", namespace, "httproutes", label_selector=selector
        )
    except kubernetes.client.ApiException as error:
        if error.status == 404:  # the Gateway API is not installed: no routes to prune
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


def converge(
    spec: ModelReleaseSpec, status: ModelReleaseStatus, namespace: str, name: str, uid: str
) -> None:
    """Make the Deployments, Services and route what status says: scale up first, then
    point traffic, then remove what is no longer needed."""
    desired = routing.desired(spec, status, routing.Owner(name, namespace, uid))
    for manifest in [*desired.deployments, *desired.services, *desired.routes]:
        _apply(manifest)
    _prune(desired, namespace, name, uid)


def _create_retraining(
    spec: ModelReleaseSpec,
    status: ModelReleaseStatus,
    namespace: str,
    name: str,
    uid: str,
    body: dict[str, Any],
) -> None:
    """Create the ModelTraining that status.retraining.current decided, once."""
    current = status.retraining.current if status.retraining else None
    if current is None or current.phase != "Creating" or spec.retraining is None:
        return
    manifest = retraining.manifest(spec, current, release=name, namespace=namespace, uid=uid)
    try:
        kube.custom().create_namespaced_custom_object(
            GROUP, VERSION, namespace, release_world.TRAININGS, manifest
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


def _window_seconds(status: ModelReleaseStatus, now: datetime) -> float:
    if status.window is None:
        return 0.0
    return (now - datetime.fromisoformat(status.window.started_at)).total_seconds()


def reconcile(namespace: str, name: str, logger: Logger) -> ModelReleaseSpec | None:
    """One look at one release. Returns its spec (None when it is gone or invalid)."""
    started = time.monotonic()
    with _locks[(namespace, name)]:
        body = kube.get_or_none(
            kube.custom().get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name
        )
        if body is None or body["metadata"].get("deletionTimestamp"):
            release_metrics.record(namespace, name, None, 0, [], None)
            return None
        try:
            spec = ModelReleaseSpec.model_validate(body.get("spec") or {})
            status = ModelReleaseStatus.model_validate(body.get("status") or {})
        except ValidationError as error:
            events.post(body, type="Warning", reason="InvalidSpec", message=str(error))
            return None
        try:
            _step(body, spec, status, namespace, name, logger)
        except Exception:
            release_metrics.RECONCILE_ERRORS.labels(namespace=namespace, release=name).inc()
            raise
        release_metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)
        return spec


def _candidate(
    spec: ModelReleaseSpec, status: ModelReleaseStatus, namespace: str
) -> tuple[Resolution | None, CandidateSelection | None]:
    """spec.candidate as a model: the training or artifact it names, or the one
    fromTrainings chooses now among the trainings its selector lists."""
    source = spec.candidate
    if source is None or source.from_trainings is None:
        return release_world.resolve(source, namespace, status), None
    listed = release_world.trainings(source, namespace)
    stable = status.stable.training if status.stable else None
    created = release_world.training_created(stable, namespace, listed)
    choice = candidates.choose(spec, status, listed, created)
    return release_world.with_reference(choice.resolution, status), choice.selection


def _step(
    body: dict[str, Any],
    spec: ModelReleaseSpec,
    status: ModelReleaseStatus,
    namespace: str,
    name: str,
    logger: Logger,
) -> Decision:
    uid = body["metadata"]["uid"]
    now = datetime.now(UTC)
    command = _take_command(body, namespace, name)
    stable_ready, candidate_ready = release_world.readiness(spec, status, namespace, name)
    candidate, selection = _candidate(spec, status, namespace)
    observed = Observations(
        candidate=candidate,
        selection=selection,
        stable_source=release_world.resolve(spec.stable, namespace, status)
        if status.stable is None
        else None,
        stable_ready=stable_ready,
        candidate_ready=candidate_ready,
        metrics=release_world.metrics(spec, status, namespace, name, _window_seconds(status, now)),
        command=command,
        retraining=release_world.retraining_seen(status, namespace),
        name=name,
    )
    decision = decide(spec, status, observed, now, body["metadata"].get("generation"))
    written = {k: v for k, v in (body.get("status") or {}).items() if k != "kopf"}
    change = merge_patch(written, decision.status.to_wire())
    if change:
        # resourceVersion makes the write conditional: a status decided from a stale read
        # is refused (409) instead of stepping twice; the next tick decides again.
        kube.custom().patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {
                "metadata": {"resourceVersion": body["metadata"]["resourceVersion"]},
                "status": change,
            },
        )
    # Counted once the decision is recorded in status, even if applying it fails below
    # (the next tick converges again, but decides nothing new).
    release_metrics.record(
        namespace,
        name,
        decision.status.phase,
        decision.status.candidate_weight,
        decision.actions,
        decision.status.gates if decision.checked else None,
        candidate_ready=candidate_ready if decision.status.candidate else None,
        degraded=None if spec.monitoring is None else decision.status.health == "Degraded",
    )
    converge(spec, decision.status, namespace, name, uid)
    _create_retraining(spec, decision.status, namespace, name, uid, body)
    for event in decision.events:
        events.post(body, type=event.type, reason=event.reason, message=event.message)
        logger.info("%s/%s: %s: %s", namespace, name, event.reason, event.message)
    return decision


@kopf.on.startup()
def serve_metrics(**_: Any) -> None:
    release_metrics.serve(CONFIG.metrics_port)


def _reconcile_logged(namespace: str, name: str, logger: Logger) -> float:
    """Reconcile one release; seconds until it should be looked at again."""
    try:
        spec = reconcile(namespace, name, logger)
    except kubernetes.client.ApiException as error:
        if error.status != 409:  # 409: a concurrent write; decide again next tick
            logger.warning("%s/%s: %s %s", namespace, name, error.status, error.reason)
        return 1.0
    except Exception:
        logger.exception("%s/%s: reconcile failed", namespace, name)
        return 5.0
    if spec is None:
        _due.pop((namespace, name), None)
        return 5.0
    return release_world.tick_seconds(spec)


@every(TICK_GRANULARITY)
def tick_due_releases(logger: Logger) -> None:
    """Look at every release whose tick has come (see `_due`): one loop for all releases
    instead of a Kopf daemon each, which would put a finalizer on every release."""
    now = time.monotonic()
    for key, due in list(_due.items()):
        if due <= now and key in _due:
            _due[key] = time.monotonic() + _reconcile_logged(*key, logger)


@kopf.on.event(GROUP, VERSION, PLURAL)
def release_changed(type: str, name: str, namespace: str | None, logger: Logger, **_: Any) -> None:
    """A spec change or a command: act now rather than at the next tick. Kopf lists
    every release when it starts, so this also (re)builds the tick schedule."""
    if namespace is None:
        return
    if type == "DELETED":
        _due.pop((namespace, name), None)
        _locks.pop((namespace, name), None)
        return
    _due[(namespace, name)] = time.monotonic() + _reconcile_logged(namespace, name, logger)


@kopf.on.event("apps", "v1", "deployments", labels={labels.RELEASE_LABEL: kopf.PRESENT})
def release_deployment_changed(
    labels: Mapping[str, str], namespace: str | None, logger: Logger, **_: Any
) -> None:
    """Pods became ready (or a Deployment was edited): the release may move on."""
    if namespace is None:
        return
    try:
        reconcile(namespace, labels[RELEASE], logger)
    except kubernetes.client.ApiException as error:
        if error.status != 409:
            raise


RELEASE = labels.RELEASE_LABEL
