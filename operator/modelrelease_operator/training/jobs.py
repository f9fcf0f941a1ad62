"""Render the training Job for a ModelTraining: a pure function of its spec."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from .. import labels, security
from ..api import API_VERSION
from ..api.training import ModelTrainingSpec

ARTIFACT_MOUNT = "/var/lib/modelrelease/artifacts"
TERMINATION_LOG = "/dev/termination-log"
GPU_RESOURCE = "nvidia.com/gpu"
TRAINER_CONTAINER = "trainer"
#: The trainer's exit code for bad data or configuration: the same on every retry.
DATA_ERROR_EXIT_CODE = 2
#: A data error fails the Job at once; a pod lost to a disruption (eviction, preemption,
#: node drain) is retried without counting against backoffLimit.
POD_FAILURE_POLICY: dict[str, Any] = {
    "rules": [
        {
            "action": "FailJob",
            "onExitCodes": {
                "containerName": TRAINER_CONTAINER,
                "operator": "In",
                "values": [DATA_ERROR_EXIT_CODE],
            },
        },
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
    ]
}


@dataclass(frozen=True)
class GpuPlacement:
    """Where GPU trainings go; platform teams set this on the operator."""

    node_selector: dict[str, str] = field(
        default_factory=lambda: {"nvidia.com/gpu.present": "true"}
    )
    tolerations: tuple[dict[str, str], ...] = (
        {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},
    )


@dataclass(frozen=True)
class TrainingRef:
    """The identity of the ModelTraining being rendered."""

    name: str
    namespace: str
    uid: str


def job_name(training: str) -> str:
    return labels.child_name(training, "train")


def artifact_location(spec: ModelTrainingSpec, training: str) -> tuple[str, str, str | None]:
    """(URI recorded in status, path the trainer writes to, PVC claim to mount or None).

    pvc://store/models + training "t1" → ("pvc://store/models/t1",
    "/var/lib/modelrelease/artifacts/models/t1", "store").
    """
    base = spec.artifacts.uri.rstrip("/")
    uri = f"{base}/{training}"
    if not base.startswith("pvc://"):
        return uri, uri, None
    claim, _, sub_path = base.removeprefix("pvc://").partition("/")
    local = "/".join(p for p in (ARTIFACT_MOUNT, sub_path, training) if p)
    return uri, local, claim


def model_version(spec: ModelTrainingSpec, training: str) -> str:
    return spec.version or training


def trainer_config(spec: ModelTrainingSpec, training: str) -> dict[str, Any]:
    """What the trainer reads from MODELRELEASE_TRAINER_CONFIG."""
    uri, path, _ = artifact_location(spec, training)
    return {
        "modelName": spec.model_name,
        "version": model_version(spec, training),
        "task": spec.task,
        "dataset": spec.dataset.to_wire(),
        "hyperparameters": spec.hyperparameters,
        "device": "cuda" if spec.resources.gpu > 0 else "cpu",
        "output": {"path": path, "uri": uri},
        "terminationMessagePath": TERMINATION_LOG,
    }


def _resources(spec: ModelTrainingSpec) -> dict[str, dict[str, str]]:
    wanted = spec.resources
    requests = {"cpu": wanted.cpu, "memory": wanted.memory}
    limits = {"cpu": wanted.cpu_limit or wanted.cpu, "memory": wanted.memory_limit or wanted.memory}
    if wanted.gpu > 0:
        # Extended resources may only be limited; the request follows the limit.
        limits[GPU_RESOURCE] = str(wanted.gpu)
    return {"requests": requests, "limits": limits}


def render_job(
    spec: ModelTrainingSpec, training: TrainingRef, gpu: GpuPlacement | None = None
) -> dict[str, Any]:
    """The batch/v1 Job that trains the model, owned by the ModelTraining."""
    gpu = gpu or GpuPlacement()
    name = job_name(training.name)
    version = model_version(spec, training.name)
    object_labels = {
        **labels.standard(
            name=spec.model_name, component="training", instance=training.name, version=version
        ),
        labels.MODEL_LABEL: spec.model_name,
        labels.TRAINING_LABEL: training.name,
    }
    _, _, claim = artifact_location(spec, training.name)
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    if claim:
        volumes.append({"name": "artifacts", "persistentVolumeClaim": {"claimName": claim}})
        mounts.append({"name": "artifacts", "mountPath": ARTIFACT_MOUNT})
    container: dict[str, Any] = {
        "name": TRAINER_CONTAINER,
        "image": spec.image,
        "args": [],
        "env": [
            {
                "name": "MODELRELEASE_TRAINER_CONFIG",
                "value": json.dumps(trainer_config(spec, training.name), sort_keys=True),
            },
            {"name": "HOME", "value": "/tmp"},
        ],
        "resources": _resources(spec),
        "securityContext": security.container_security_context(),
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts,
    }
    if spec.artifacts.credentials_secret:
        container["envFrom"] = [{"secretRef": {"name": spec.artifacts.credentials_secret}}]
    node_selector = dict(spec.node_selector)
    tolerations = [t.to_wire() for t in spec.tolerations]
    if spec.resources.gpu > 0:
        node_selector = {**gpu.node_selector, **node_selector}
        tolerations += [dict(t) for t in gpu.tolerations if dict(t) not in tolerations]
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": security.pod_security_context(),
        "containers": [container],
        "volumes": volumes,
    }
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    if tolerations:
        pod_spec["tolerations"] = tolerations
    if spec.priority_class_name:
        pod_spec["priorityClassName"] = spec.priority_class_name
    if spec.service_account_name:
        pod_spec["serviceAccountName"] = spec.service_account_name
        pod_spec["automountServiceAccountToken"] = True
    job_spec: dict[str, Any] = {
        "backoffLimit": spec.job.backoff_limit,
        # Needs the pod's restartPolicy Never.
        "podFailurePolicy": copy.deepcopy(POD_FAILURE_POLICY),
        "activeDeadlineSeconds": spec.job.active_deadline_seconds,
        "template": {
            "metadata": {"labels": object_labels, "annotations": dict(spec.pod_annotations)},
            "spec": pod_spec,
        },
    }
    if spec.job.ttl_seconds_after_finished is not None:
        job_spec["ttlSecondsAfterFinished"] = spec.job.ttl_seconds_after_finished
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": training.namespace,
            "labels": object_labels,
            "ownerReferences": [
                labels.owner_reference(
                    api_version=API_VERSION,
                    kind="ModelTraining",
                    name=training.name,
                    uid=training.uid,
                )
            ],
        },
        "spec": job_spec,
    }
