"""A tuning ModelTraining's reconcile: read its trial Jobs and pods, decide, then write
status before creating any Job.

The order is the point: a trial exists once status records it. Writing first (with the
resourceVersion precondition) means a crash between the two steps leaves a recorded
trial without a Job, which the next reconcile creates under the same name; the other
order could leave a Job whose trial no status knows, and a second, different trial asked
in its place.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import kubernetes

from .. import events, kube, labels
from ..api.training import ModelTrainingSpec, ModelTrainingStatus
from ..config import from_environment
from ..training import gates
from ..training.decide import TERMINAL
from ..training.jobs import TrainingRef
from ..training.trial_jobs import TRIAL_LABEL, render_trial_job
from ..training.tuning import TuningObservation, decide_tuning
from . import status_writer

PLURAL = "modeltrainings"
CONFIG = from_environment()


def observe(namespace: str, name: str, baseline: gates.Baseline | None) -> TuningObservation:
    """The training's trial Jobs by name and their pods by Job name."""
    selector = f"{labels.TRAINING_LABEL}={name},{TRIAL_LABEL}"
    jobs = kube.batch().list_namespaced_job(namespace, label_selector=selector).items
    pods = kube.core().list_namespaced_pod(namespace, label_selector=selector).items
    by_job: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for pod in pods:
        plain = kube.plain(pod)
        owner = ((plain.get("metadata") or {}).get("labels") or {}).get("job-name")
        if owner:
            by_job[owner].append(plain)
    found = {kube.plain(job)["metadata"]["name"]: kube.plain(job) for job in jobs}
    return TuningObservation(jobs=found, pods=dict(by_job), baseline=baseline)


def reconcile(
    body: dict[str, Any],
    spec: ModelTrainingSpec,
    status: ModelTrainingStatus,
    baseline: gates.Baseline | None,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    """Called by handlers.training.reconcile (under its lock) for a training with tuning."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    if status.phase in TERMINAL:
        return
    decision = decide_tuning(
        spec,
        status,
        name=name,
        generation=meta.get("generation"),
        observed=observe(namespace, name, baseline),
        now=datetime.now(UTC),
    )
    try:
        status_writer.write(PLURAL, body, decision.status.to_wire())
    except kubernetes.client.ApiException as error:
        if error.status == 409:  # decided from a stale read: the next event decides again
            return
        raise
    owner = TrainingRef(name, namespace, meta["uid"])
    for trial in decision.create_jobs:
        manifest = render_trial_job(spec, owner, trial.number, trial.params, CONFIG.gpu)
        kube.create_unless_exists(kube.batch().create_namespaced_job, namespace, manifest)
    for event in decision.events:
        events.post(body, type=event.type, reason=event.reason, message=event.message)
        logger.info("%s/%s: %s: %s", namespace, name, event.reason, event.message)
