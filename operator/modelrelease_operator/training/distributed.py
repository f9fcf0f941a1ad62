"""Render a training over `spec.workers` pods: an Indexed Job and a headless Service.

Each pod's completion index is its XGBoost rank; rank 0 hosts the tracker the others
reach at `<job>-0.<service>` (the Service gives the pods of the Job DNS names). With one
worker the Job is exactly the single-pod one of jobs.py, and there is no Service.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any

from ..api.training import ModelTrainingSpec
from . import jobs

TRACKER_PORT = 9091
#: Kubernetes sets it on an Indexed Job's pods; the trainer reads its rank from it.
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
RANK_ENV = "JOB_COMPLETION_INDEX"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
#: A pod's hostname is `<job>-<index>`, a DNS label: room for "-63".
_NAME_LENGTH = 63 - len("-63")
#: How long a worker waits for the others to join (also the tracker's bootstrap).
TIMEOUT_SECONDS = 600


def job_name(spec: ModelTrainingSpec, training: str) -> str:
    """The training's Job. A distributed one names a Service too, and its pods' hostnames
    (`<job>-<index>`): a DNS-1035 label (no dots, a letter first) that leaves room for
    the index."""
    if spec.workers == 1:
        return jobs.job_name(training)
    wanted = f"{training}-train"
    name = re.sub(r"[^a-z0-9-]", "-", wanted)
    if not name[0].isalpha():
        name = f"t-{name}"
    if name == wanted and len(name) <= _NAME_LENGTH:
        return name
    # Changed or shortened: the digest keeps names of different trainings apart.
    digest = hashlib.sha256(training.encode()).hexdigest()[:8]
    return f"{name[: _NAME_LENGTH - 9].rstrip('-')}-{digest}"


def service_name(spec: ModelTrainingSpec, training: str) -> str:
    return job_name(spec, training)


def tracker_host(spec: ModelTrainingSpec, training: str) -> str:
    """Rank 0's name in the namespace: hostname `<job>-0` under subdomain `<service>`."""
    return f"{job_name(spec, training)}-0.{service_name(spec, training)}"


def render_service(spec: ModelTrainingSpec, training: jobs.TrainingRef) -> dict[str, Any]:
    """The headless Service that gives the workers their DNS names."""
    job = jobs.render_job(spec, training)
    name = service_name(spec, training.name)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": training.namespace,
            "labels": dict(job["metadata"]["labels"]),
            "ownerReferences": copy.deepcopy(job["metadata"]["ownerReferences"]),
        },
        "spec": {
            "clusterIP": "None",
            "selector": {JOB_NAME_LABEL: job_name(spec, training.name)},
            # Workers look rank 0 up as soon as it has an address, before it is Ready.
            "publishNotReadyAddresses": True,
            "ports": [{"name": "tracker", "port": TRACKER_PORT, "targetPort": TRACKER_PORT}],
        },
    }


def _cluster(spec: ModelTrainingSpec, training: str) -> dict[str, Any]:
    """The trainer config's `distributed` section."""
    return {
        "workers": spec.workers,
        "trackerHost": tracker_host(spec, training),
        "trackerPort": TRACKER_PORT,
        "timeoutSeconds": TIMEOUT_SECONDS,
    }


def render(
    spec: ModelTrainingSpec, training: jobs.TrainingRef, gpu: jobs.GpuPlacement | None = None
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(Service or None, Job): what the handler creates, the Service first."""
    job = jobs.render_job(spec, training, gpu)
    if spec.workers == 1:
        return None, job
    name = job_name(spec, training.name)
    job["metadata"]["name"] = name
    job_spec = job["spec"]
    job_spec["completionMode"] = "Indexed"
    job_spec["completions"] = job_spec["parallelism"] = spec.workers
    pod = job_spec["template"]["spec"]
    pod["subdomain"] = service_name(spec, training.name)
    for container in pod["containers"]:
        if container["name"] != "trainer":
            continue
        for variable in container["env"]:
            if variable["name"] == "MODELRELEASE_TRAINER_CONFIG":
                config = json.loads(variable["value"])
                config["distributed"] = _cluster(spec, training.name)
                variable["value"] = json.dumps(config, sort_keys=True)
        # Kubernetes sets it too; rendering it keeps the trainer's contract visible.
        container["env"].append(
            {
                "name": RANK_ENV,
                "valueFrom": {
                    "fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}
                },
            }
        )
        container["ports"] = [{"name": "tracker", "containerPort": TRACKER_PORT}]
    return render_service(spec, training), job


def leaders(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pods whose termination message is the training's result: rank 0's (and the
    one pod of a single-pod Job, which has no index)."""
    return [
        pod
        for pod in pods
        if ((pod.get("metadata") or {}).get("annotations") or {}).get(INDEX_ANNOTATION, "0") == "0"
    ]
