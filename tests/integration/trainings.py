"""ModelTrainings for the tests: the examples in manifests/examples/, renamed, plus
the kwok annotations that decide how their pods end, and the real trainer's output."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes
import yaml
from modelrelease_operator.api.training import ModelTrainingSpec
from modelrelease_operator.training.jobs import trainer_config

from .waiting import Waiter

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "manifests" / "examples"
GROUP, VERSION, PLURAL = "modelrelease.dev", "v1alpha1", "modeltrainings"
TRAINING_LABEL = "modelrelease.dev/training"
OUTCOME = "kwok.modelrelease.dev/outcome"
MESSAGE = "kwok.modelrelease.dev/termination-message"
DELAY = "kwok.modelrelease.dev/delay"


def example(file: str, name: str) -> dict[str, Any]:
    """The example ModelTraining in `file`, renamed."""
    document = yaml.safe_load((EXAMPLES / file).read_text())
    manifest = copy.deepcopy(document)
    manifest["metadata"] = {"name": name}
    return manifest


def cpu_training(name: str) -> dict[str, Any]:
    return example("training-loan-default.yaml", name)


def gpu_training(name: str, gpus: int = 1) -> dict[str, Any]:
    manifest = example("training-loan-default-gpu.yaml", name)
    manifest["spec"]["resources"]["gpu"] = gpus
    return manifest


def ending(
    manifest: dict[str, Any], outcome: str, *, message: str | None = None, delay: str | None = None
) -> dict[str, Any]:
    """Make the training's pod end with `outcome` (succeed|fail), through kwok."""
    annotations = manifest["spec"].setdefault("podAnnotations", {})
    annotations[OUTCOME] = outcome
    if message is not None:
        annotations[MESSAGE] = message
    if delay is not None:
        annotations[DELAY] = delay
    return manifest


def run_trainer(manifest: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Train for real, with the configuration the operator gives the Job's container
    (only the output folder and the termination log moved to `workdir`). Returns the
    termination message the container would leave, parsed."""
    spec = ModelTrainingSpec.model_validate(manifest["spec"])
    config = trainer_config(spec, manifest["metadata"]["name"])
    config["output"]["path"] = str(workdir / "artifact")
    config["terminationMessagePath"] = str(workdir / "termination-log")
    path = workdir / "config.json"
    path.write_text(json.dumps(config))
    subprocess.run(
        [sys.executable, "-m", "modelrelease_trainer", "--config", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary: dict[str, Any] = json.loads((workdir / "termination-log").read_text())
    return summary


class Trainings:
    """ModelTrainings, their Jobs and pods in one namespace."""

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str, wait: Waiter) -> None:
        self.namespace = namespace
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.batch = kubernetes.client.BatchV1Api(api)
        self.core = kubernetes.client.CoreV1Api(api)
        self.wait = wait

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ModelTraining", **manifest}
        created: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, body
        )
        return created

    def get(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name
        )
        return found

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)

    def status(self, name: str) -> dict[str, Any]:
        return self.get(name).get("status") or {}

    def jobs(self, name: str) -> list[Any]:
        return list(
            self.batch.list_namespaced_job(
                self.namespace, label_selector=f"{TRAINING_LABEL}={name}"
            ).items
        )

    def pods(self, name: str) -> list[Any]:
        return list(
            self.core.list_namespaced_pod(
                self.namespace, label_selector=f"{TRAINING_LABEL}={name}"
            ).items
        )

    def wait_phase(self, name: str, phase: str, timeout: float = 120.0) -> dict[str, Any]:
        """The status once it shows `phase`."""
        return self.wait.until(
            lambda: (s := self.status(name)).get("phase") == phase and s,
            what=f"ModelTraining {name} phase {phase}",
            timeout=timeout,
        )

    def event_reasons(self, name: str) -> list[str]:
        """Reasons of the Events about the training `name`, oldest first."""
        found = self.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={name}"
        )

        # Timestamps have whole seconds; within one second etcd's revision, which every
        # create increases, gives the order.
        def created(event: Any) -> tuple[Any, int]:
            return event.metadata.creation_timestamp, int(event.metadata.resource_version)

        return [e.reason for e in sorted(found.items, key=created)]

    def wait_pod(self, name: str, phase: str) -> Any:
        return self.wait.until(
            lambda: next((p for p in self.pods(name) if p.status.phase == phase), None),
            what=f"a {phase} pod of ModelTraining {name}",
        )

    def wait_pods_gone(self, name: str) -> None:
        self.wait.until(lambda: not self.pods(name), what=f"pods of {name} to be deleted")


def artifact_store(api: kubernetes.client.ApiClient, namespace: str) -> None:
    """The example store's Secret, which the training Jobs take their keys from. The
    store itself (SeaweedFS) needs a kubelet: kwok's pods only pretend to run."""
    documents = yaml.safe_load_all((EXAMPLES / "artifact-store.yaml").read_text())
    (secret,) = [d for d in documents if d["kind"] == "Secret"]
    kubernetes.client.CoreV1Api(api).create_namespaced_secret(namespace, secret)
