"""ModelTraining handlers: react to the resource, its Job and its pods.

Event handlers (no timers) so that no finalizer is needed: deleting a training never
waits for the operator, and the garbage collector removes the Job.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
import kubernetes
from pydantic import ValidationError

from .. import events, kube, labels, leader
from ..api import GROUP, VERSION
from ..api.training import ModelTrainingSpec, ModelTrainingStatus
from ..config import from_environment
from ..training import distributed, gates
from ..training.decide import TERMINAL, Observation, decide
from ..training.jobs import TrainingRef
from . import status_writer, tuning
from .resync import Logger, every

PLURAL = "modeltrainings"
TRAINING = labels.TRAINING_LABEL
CONFIG = from_environment()
_locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)


def _baseline(spec: ModelTrainingSpec, namespace: str) -> gates.Baseline | None:
    rule = spec.quality_gate.must_beat
    if rule is None:
        return None
    release = kube.get_or_none(
        kube.custom().get_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        "modelreleases",
        rule.release,
    )
    if release is None:
        return gates.Baseline(release_found=False)
    stable = ((release.get("status") or {}).get("stable")) or {}
    training_name = stable.get("training")
    metrics = stable.get("metrics")
    if training_name and not metrics:
        training = kube.get_or_none(
            kube.custom().get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            training_name,
        )
        metrics = ((training or {}).get("status") or {}).get("metrics")
    return gates.Baseline(release_found=True, version=stable.get("version"), metrics=metrics)


def reconcile(
    namespace: str, name: str, logger: logging.Logger | logging.LoggerAdapter[Any]
) -> None:
    """Bring one ModelTraining's status (and Job) in line with the world."""
    with _locks[(namespace, name)]:
        body = kube.get_or_none(
            kube.custom().get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name
        )
        if body is None or body["metadata"].get("deletionTimestamp"):
            return
        try:
            spec = ModelTrainingSpec.model_validate(body.get("spec") or {})
            status = ModelTrainingStatus.model_validate(body.get("status") or {})
        except ValidationError as error:
            # The schema should have refused it; say so instead of crashing.
            events.post(body, type="Warning", reason="InvalidSpec", message=str(error))
            return
        if spec.tuning is not None:
            # A search has many Jobs, one per trial: handlers/tuning.py follows them.
            baseline = _baseline(spec, namespace) if status.phase not in TERMINAL else None
            tuning.reconcile(body, spec, status, baseline, logger)
            return
        job_name = status.job_name or distributed.job_name(spec, name)
        job = kube.get_or_none(kube.batch().read_namespaced_job, job_name, namespace)
        pods: list[dict[str, Any]] = []
        if job is not None:
            found = kube.core().list_namespaced_pod(
                namespace, label_selector=f"job-name={job_name}"
            )
            pods = [kube.plain(pod) for pod in found.items]
        needs_baseline = job is not None and status.phase not in TERMINAL
        observed = Observation(
            job=kube.plain(job) if job is not None else None,
            pods=pods,
            baseline=_baseline(spec, namespace) if needs_baseline else None,
        )
        decision = decide(
            spec,
            status,
            name=name,
            generation=body["metadata"].get("generation"),
            observed=observed,
            now=datetime.now(UTC),
        )
        if decision.create_job:
            service, manifest = distributed.render(
                spec, TrainingRef(name, namespace, body["metadata"]["uid"]), CONFIG.gpu
            )
            if service is not None:  # first: the workers find rank 0 through it
                kube.create_unless_exists(kube.core().create_namespaced_service, namespace, service)
            kube.create_unless_exists(kube.batch().create_namespaced_job, namespace, manifest)
        try:
            status_writer.write(PLURAL, body, decision.status.to_wire())
        except kubernetes.client.ApiException as error:
            if error.status == 409:  # decided from a stale read: the next event decides again
                return
            raise
        for event in decision.events:
            events.post(body, type=event.type, reason=event.reason, message=event.message)
            logger.info("%s/%s: %s: %s", namespace, name, event.reason, event.message)


@kopf.on.event(GROUP, VERSION, PLURAL)
def training_changed(type: str, name: str, namespace: str | None, logger: Logger, **_: Any) -> None:
    if namespace is None:
        return
    if type == "DELETED":
        _locks.pop((namespace, name), None)
        return
    if leader.acting():  # a standby leaves it to the leader
        reconcile(namespace, name, logger)


@kopf.on.event("batch", "v1", "jobs", labels={labels.TRAINING_LABEL: kopf.PRESENT})
def training_job_changed(
    labels: Mapping[str, str], namespace: str | None, logger: Logger, **_: Any
) -> None:
    if namespace is not None and leader.acting():
        reconcile(namespace, labels[TRAINING], logger)


@kopf.on.event("", "v1", "pods", labels={labels.TRAINING_LABEL: kopf.PRESENT})
def training_pod_changed(
    labels: Mapping[str, str], namespace: str | None, logger: Logger, **_: Any
) -> None:
    if namespace is not None and leader.acting():
        reconcile(namespace, labels[TRAINING], logger)


def _watched_trainings(logger: Logger) -> list[dict[str, Any]]:
    """Every ModelTraining the operator watches: cluster-wide, or in each namespace of
    MODELRELEASE_WATCH_NAMESPACES (a namespaced install may list nowhere else). A
    namespace that cannot be listed is logged and skipped; the others are resynced."""
    if not CONFIG.watch_namespaces:
        listing: dict[str, Any] = kube.custom().list_cluster_custom_object(  # type: ignore[assignment]
            GROUP, VERSION, PLURAL
        )
        return list(listing.get("items", []))
    items: list[dict[str, Any]] = []
    for namespace in CONFIG.watch_namespaces:
        try:
            listing = kube.custom().list_namespaced_custom_object(  # type: ignore[assignment]
                GROUP, VERSION, namespace, PLURAL
            )
        except kubernetes.client.ApiException as error:
            logger.warning(
                "%s: cannot list trainings: %s %s", namespace, error.status, error.reason
            )
            continue
        items += listing.get("items", [])
    return items


@every()
def resync_trainings(logger: Logger) -> None:
    """Reconcile every unfinished training; retries what a failed event left undone."""
    for item in _watched_trainings(logger):
        if not leader.acting():  # leadership lost during the pass: stop at once
            return
        if (item.get("status") or {}).get("phase") in TERMINAL:
            continue
        meta = item["metadata"]
        try:
            reconcile(meta["namespace"], meta["name"], logger)
        except kubernetes.client.ApiException as error:
            logger.warning(
                "%s/%s: reconcile failed: %s %s",
                meta["namespace"],
                meta["name"],
                error.status,
                error.reason,
            )
