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

import copy
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
from ..release import candidates, commands, stages
from ..release.decide import Decision, decide
from ..release.seen import Observations, Resolution
from . import release_metrics, release_world, release_writer, status_writer, watched
from .resync import Logger, every
from .schedule import Key, Next, TickSchedule

PLURAL = "modelreleases"
CONFIG = from_environment()
_locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
SCHEDULE = TickSchedule(workers=CONFIG.release_workers)
#: How often the tick loop looks for due releases: the delay of a woken release at most.
TICK_GRANULARITY = 0.1
#: Seconds before a release whose status write met a newer version decides again.
CONFLICT_RETRY = 0.2


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


def reconcile(namespace: str, name: str, logger: Logger) -> Next | None:
    """One look at one release. Returns when to look again (None when it is gone or
    invalid)."""
    started = time.monotonic()
    key = (namespace, name)
    with _locks[key]:
        try:
            body = _read_release(namespace, name)
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
            decision = _step(body, spec, status, namespace, name, logger)
        except InvalidSpec as error:
            events.post(body, type="Warning", reason="InvalidSpec", message=str(error)[:1000])
            raise
        except kubernetes.client.ApiException as error:
            if error.status == 409:  # decided from a stale copy: read it afresh next time
                watched.RELEASES.drop(key, name)
            release_metrics.RECONCILE_ERRORS.labels(namespace=namespace, release=name).inc()
            raise
        except Exception:
            release_metrics.RECONCILE_ERRORS.labels(namespace=namespace, release=name).inc()
            raise
        release_metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)
        return _next_look(spec, decision.status)


def _next_look(spec: ModelReleaseSpec, status: ModelReleaseStatus) -> Next:
    """The next periodic look, or the moment the current stage ends if that is sooner:
    that look moves the rollout on, so it is urgent and lands on the stage's end rather
    than up to a tick after it."""
    tick = release_world.tick_seconds(spec)
    left = stages.seconds_to_stage_end(spec, status, datetime.now(UTC))
    if left is not None and left < tick:
        return Next(max(left, 0.0), urgent=True)
    return Next(tick)


def _read_release(namespace: str, name: str) -> dict[str, Any] | None:
    """The release as the watch last saw it (or as our last write returned it); read
    from the API server when the watch has not delivered it yet."""
    cached = watched.RELEASES.get((namespace, name), name)
    if cached is not None:
        return copy.deepcopy(cached)  # the reconcile updates its copy's resourceVersion
    body = kube.get_or_none(
        kube.custom().get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name
    )
    if body is not None:
        watched.RELEASES.written(body)
    return cast(dict[str, Any] | None, body)


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
    written = status_writer.write(PLURAL, body, decision.status.to_wire())
    if written is not None:
        watched.RELEASES.written(written)
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


def _look(key: Key, logger: Logger) -> Next | float | None:
    """Reconcile one release; when it should be looked at again, None to forget it
    (gone, or invalid until it changes). Other errors are the caller's to log."""
    namespace, name = key
    try:
        return reconcile(namespace, name, logger)
    except InvalidSpec as error:
        logger.warning("%s/%s: not acted on until it changes: %s", namespace, name, error)
        return None
    except kubernetes.client.ApiException as error:
        if error.status == 409:  # a concurrent write: decide again, from a fresh read
            return Next(CONFLICT_RETRY, urgent=True)
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
def release_changed(
    type: str,
    body: kopf.Body,
    name: str,
    namespace: str | None,
    **_: Any,
) -> None:
    """A spec change or a command: look at the release as soon as a worker is free. The
    look itself runs on the tick loop's pool, so a burst of events makes one look, and
    Kopf's queues never wait on the API server. Kopf lists every release when it
    starts, so this also (re)builds the tick schedule."""
    if namespace is None:
        return
    key = (namespace, name)
    watched.RELEASES.seen(type, body)
    if type == "DELETED":
        SCHEDULE.forget(key)
        watched.RELEASES.forget(key)
        _locks.pop(key, None)
        return
    if not leader.acting():
        # A standby keeps the schedule filled so that, once it leads, it ticks them all.
        SCHEDULE.set(key, 0.0)
        return
    if key in SCHEDULE and not commands.wants_a_look(body):
        return  # our own status write, or a label edit: the next tick is soon enough
    SCHEDULE.wake(key)


@kopf.on.event("apps", "v1", "deployments", labels={labels.RELEASE_LABEL: kopf.PRESENT})
def release_deployment_changed(
    type: str, body: kopf.Body, labels: Mapping[str, str], namespace: str | None, **_: Any
) -> None:
    """Pods became ready (or a Deployment was edited): the release may move on."""
    watched.DEPLOYMENTS.seen(type, body)
    if namespace is None or not leader.acting():
        return
    SCHEDULE.wake((namespace, labels[RELEASE]))


@kopf.on.event("", "v1", "services", labels={labels.RELEASE_LABEL: kopf.PRESENT})
def release_service_changed(type: str, body: kopf.Body, **_: Any) -> None:
    watched.SERVICES.seen(type, body)


@kopf.on.event("", "v1", "pods", labels={labels.RELEASE_LABEL: kopf.PRESENT})
def release_pod_changed(type: str, body: kopf.Body, **_: Any) -> None:
    """Serving pods: their restarts and addresses, read from here rather than listed."""
    watched.PODS.seen(type, body)


RELEASE = labels.RELEASE_LABEL
