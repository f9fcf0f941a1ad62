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

from .. import events, kube, labels, leader
from ..api import GROUP, VERSION
from ..api.release import CandidateSelection, ModelReleaseSpec, ModelReleaseStatus
from ..config import from_environment
from ..labels import COMMAND_ANNOTATION
from ..release import candidates
from ..release.decide import Decision, decide
from ..release.seen import Observations, Resolution
from . import release_metrics, release_world, release_writer, status_writer
from .resync import Logger, every
from .schedule import RETRY_AFTER_ERROR as RETRY
from .schedule import Key, TickSchedule

PLURAL = "modelreleases"
CONFIG = from_environment()
_locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
SCHEDULE = TickSchedule(workers=CONFIG.release_workers)
TICK_GRANULARITY = 0.5


class InvalidSpec(Exception):
    """The release's spec cannot be acted on until it changes."""


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


def _window_seconds(status: ModelReleaseStatus, now: datetime) -> float:
    if status.window is None:
        return 0.0
    return (now - datetime.fromisoformat(status.window.started_at)).total_seconds()


def reconcile(namespace: str, name: str, logger: Logger) -> ModelReleaseSpec | None:
    """One look at one release. Returns its spec (None when it is gone or invalid)."""
    started = time.monotonic()
    with _locks[(namespace, name)]:
        try:
            body = kube.get_or_none(
                kube.custom().get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name
            )
        except Exception:  # counted like any failed reconcile (an API server away, ...)
            release_metrics.RECONCILE_ERRORS.labels(namespace=namespace, release=name).inc()
            raise
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
        except InvalidSpec as error:
            events.post(body, type="Warning", reason="InvalidSpec", message=str(error)[:1000])
            raise
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
        candidate_restarts=release_world.candidate_restarts(status, namespace, name),
    )
    try:
        decision = decide(spec, status, observed, now, body["metadata"].get("generation"))
    except ValueError as error:
        # A value the schema admitted that the core cannot use (an object stored under an
        # older CRD without bounds): said on the release; acted on once it changes.
        raise InvalidSpec(str(error)) from error
    # Conditional on the read resourceVersion: a stale decision is refused (409) instead
    # of stepping twice; the next tick decides again.
    status_writer.write(PLURAL, body, decision.status.to_wire())
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
    # The Events tell what status now records: posted before the cluster is changed, so a
    # failing apply below cannot lose them (the next tick applies again, and has no
    # transition of its own to announce).
    for event in decision.events:
        events.post(body, type=event.type, reason=event.reason, message=event.message)
        logger.info("%s/%s: %s: %s", namespace, name, event.reason, event.message)
    release_writer.converge(spec, decision.status, body)
    release_writer.create_retraining(spec, decision.status, body)
    return decision


@kopf.on.startup()
def serve_metrics(**_: Any) -> None:
    release_metrics.serve(CONFIG.metrics_port)


def _look(key: Key, logger: Logger) -> float | None:
    """Reconcile one release; seconds until it should be looked at again, None to forget
    it (gone, or invalid until it changes). Other errors are the caller's to log."""
    namespace, name = key
    try:
        spec = reconcile(namespace, name, logger)
        return None if spec is None else release_world.tick_seconds(spec)
    except InvalidSpec as error:
        logger.warning("%s/%s: not acted on until it changes: %s", namespace, name, error)
        return None
    except kubernetes.client.ApiException as error:
        if error.status != 409:  # 409: a concurrent write; decide again next tick
            logger.warning("%s/%s: %s %s", namespace, name, error.status, error.reason)
        return 1.0


@every(TICK_GRANULARITY)
def tick_due_releases(logger: Logger) -> None:
    """Look at every release whose tick has come: one loop for all releases instead of a
    Kopf daemon each, which would put a finalizer on every release."""
    if not leader.acting():
        return
    # Leadership lost mid-pass: the releases not yet started stay due for the next leader.
    SCHEDULE.run_due(lambda key: _look(key, logger) if leader.acting() else 0.0, logger)


@kopf.on.event(GROUP, VERSION, PLURAL)
def release_changed(type: str, name: str, namespace: str | None, logger: Logger, **_: Any) -> None:
    """A spec change or a command: act now rather than at the next tick. Kopf lists
    every release when it starts, so this also (re)builds the tick schedule."""
    if namespace is None:
        return
    key = (namespace, name)
    if type == "DELETED":
        SCHEDULE.forget(key)
        _locks.pop(key, None)
        return
    if not leader.acting():
        # A standby keeps the schedule filled so that, once it leads, it ticks them all.
        SCHEDULE.set(key, 0.0)
        return
    try:
        after = _look(key, logger)
    except Exception:
        logger.exception("%s/%s: reconcile failed; retrying in %ss", namespace, name, RETRY)
        after = RETRY
    if after is None:
        SCHEDULE.forget(key)
    else:
        SCHEDULE.set(key, after)


@kopf.on.event("apps", "v1", "deployments", labels={labels.RELEASE_LABEL: kopf.PRESENT})
def release_deployment_changed(
    labels: Mapping[str, str], namespace: str | None, logger: Logger, **_: Any
) -> None:
    """Pods became ready (or a Deployment was edited): the release may move on."""
    if namespace is None or not leader.acting():
        return
    try:
        reconcile(namespace, labels[RELEASE], logger)
    except kubernetes.client.ApiException as error:
        if error.status != 409:
            raise


RELEASE = labels.RELEASE_LABEL
