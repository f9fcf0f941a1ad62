"""spec.candidate.fromTrainings on a real control plane: committing a ModelTraining is the
whole change that ships a model. kwok plays the kubelets: trainings end as their pod
annotations say, and serving pods become ready without serving (so a rollout starts and
holds at its first stage, which is what these tests look at)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import kubernetes

from .trainings import Trainings, cpu_training, ending
from .waiting import Waiter

GROUP, VERSION, PLURAL = "modelrelease.dev", "v1alpha1", "modelreleases"
RELEASE = "loan-default-gitops"
PART_OF = "app.kubernetes.io/part-of"


def labelled(name: str, *, roc_auc: float = 0.86, gate_min: float = 0.8) -> dict[str, Any]:
    """The example training as `name`, followed by the release, ending Succeeded with a
    summary of its own (its own digest and version: distinct models), then judged by a
    roc_auc gate of `gate_min`."""
    manifest = cpu_training(name)
    manifest["metadata"]["labels"] = {PART_OF: "loan-default"}
    manifest["spec"]["qualityGate"] = {"thresholds": [{"metric": "roc_auc", "min": gate_min}]}
    summary = {
        "metrics": {"roc_auc": roc_auc, "log_loss": 0.3},
        "artifactUri": f"s3://models/loan-default/{name}",
        "digest": "sha256:" + hashlib.sha256(name.encode()).hexdigest(),
        "modelVersion": name,
    }
    return ending(manifest, "succeed", message=json.dumps(summary, separators=(",", ":")))


def release(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelRelease",
        "metadata": {"name": RELEASE, "namespace": namespace},
        "spec": {
            "modelName": "loan-default",
            "stable": {"training": "gitops-v1"},
            "candidate": {"fromTrainings": {"matchLabels": {PART_OF: "loan-default"}}},
            "serving": {"replicas": 2},
            "stages": [{"weight": 50, "duration": "1m", "minRequests": 10}],
            "readinessDeadline": "30m",
        },
    }


class Releases:
    def __init__(self, api: kubernetes.client.ApiClient, namespace: str) -> None:
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.namespace = namespace

    def create(self, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def status(self) -> dict[str, Any]:
        found = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, RELEASE
        )
        return dict(found.get("status") or {})


def test_a_new_passing_training_alone_starts_a_rollout_and_a_rejected_one_does_not(
    trainings: Trainings, kube_api: kubernetes.client.ApiClient, wait: Waiter
) -> None:
    releases = Releases(kube_api, trainings.namespace)
    trainings.create(labelled("gitops-v1"))
    trainings.wait_phase("gitops-v1", "Succeeded")
    releases.create(release(trainings.namespace))
    settled = wait.until(
        lambda: (s := releases.status()).get("phase") == "Succeeded" and s,
        what="the release to serve gitops-v1 with nothing to roll out",
    )
    assert settled["stable"]["training"] == "gitops-v1" and "candidate" not in settled
    assert settled["candidateSelection"].get("chosen") is None

    # A Rejected training changes nothing, and the release says why.
    trainings.create(labelled("gitops-weak", roc_auc=0.61))
    trainings.wait_phase("gitops-weak", "Rejected")

    # A tick may first see it still Pending ("not finished"): wait for the final reason.
    def weak_reason() -> str:
        skipped = releases.status().get("candidateSelection", {}).get("skipped", [])
        return str({s["name"]: s["reason"] for s in skipped}.get("gitops-weak", ""))

    wait.until(
        lambda: weak_reason().startswith("Rejected by its quality gate"),
        what="status.candidateSelection to say gitops-weak was Rejected by its quality gate",
    )
    status = releases.status()
    assert status["phase"] == "Succeeded" and "candidate" not in status
    assert status["stable"]["training"] == "gitops-v1"

    # A passing training, applied alone, becomes the candidate and its rollout starts.
    trainings.create(labelled("gitops-v2"))
    trainings.wait_phase("gitops-v2", "Succeeded")
    rolling = wait.until(
        lambda: (s := releases.status()).get("phase") == "Progressing" and s,
        what="a rollout of gitops-v2",
    )
    assert rolling["candidate"]["training"] == "gitops-v2"
    assert rolling["candidateVersion"] == "gitops-v2"
    selection = rolling["candidateSelection"]
    assert selection["chosen"] == "gitops-v2"
    assert {s["name"] for s in selection["skipped"]} >= {"gitops-weak", "gitops-v1"}
    assert "RolloutStarted" in [h["reason"] for h in rolling["history"]]
