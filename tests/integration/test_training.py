"""ModelTraining against a real API server, controllers and scheduler, with the operator
running as a process under its own ServiceAccount. kwok plays the kubelets: a training
pod ends as its `podAnnotations` say, with the real trainer's termination message."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from tests.controlplane.nodes import CPU_NODES, GPU_NODE, GPU_RESOURCE

from .running_operator import OperatorProcess
from .trainings import (
    Trainings,
    cpu_training,
    ending,
    gpu_training,
    run_trainer,
)

CPU_NODE_NAMES = {node.name for node in CPU_NODES}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The real trainer's summary for the CPU example (what its pod would report)."""
    return run_trainer(cpu_training("trained"), tmp_path_factory.mktemp("trainer"))


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status.get("conditions", []) if c["type"] == kind)


def _message_for(name: str, trained: dict[str, Any]) -> str:
    """The summary as the pod of training `name` would have written it."""
    uri = f"s3://models/loan-default/{name}"
    return json.dumps({**trained, "artifactUri": uri}, separators=(",", ":"), sort_keys=True)


def test_cpu_training_job_runs_on_a_cpu_node(trainings: Trainings) -> None:
    created = trainings.create(cpu_training("cpu"))
    pod = trainings.wait_pod("cpu", "Running")
    assert pod.spec.node_name in CPU_NODE_NAMES
    [job] = trainings.jobs("cpu")
    [owner] = job.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "ModelTraining",
        "cpu",
        created["metadata"]["uid"],
        True,
    )
    status = trainings.wait_phase("cpu", "Running")
    assert status["jobName"] == job.metadata.name
    assert _condition(status, "Scheduled")["status"] == "True"


def test_training_pods_pass_the_restricted_profile(
    trainings: Trainings, kube_api: kubernetes.client.ApiClient
) -> None:
    namespace = kubernetes.client.CoreV1Api(kube_api).read_namespace(trainings.namespace)
    assert namespace.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    trainings.create(cpu_training("restricted"))
    # The Job controller could only create the pod if Pod Security admitted it.
    pod = trainings.wait_pod("restricted", "Running")
    assert pod.spec.security_context.run_as_non_root
    events = (
        kubernetes.client.CoreV1Api(kube_api)
        .list_namespaced_event(trainings.namespace, field_selector="reason=FailedCreate")
        .items
    )
    assert not events, [e.message for e in events]


def test_gpu_training_lands_on_the_gpu_node(trainings: Trainings) -> None:
    trainings.create(gpu_training("gpu"))
    pod = trainings.wait_pod("gpu", "Running")
    assert pod.spec.node_name == GPU_NODE.name
    assert pod.spec.containers[0].resources.limits[GPU_RESOURCE] == "1"
    trainings.wait_phase("gpu", "Running")
    # Free the node's only GPU for the other tests.
    trainings.delete("gpu")
    trainings.wait_pods_gone("gpu")


def test_gpu_training_waits_while_the_gpu_is_taken(trainings: Trainings) -> None:
    trainings.create(gpu_training("holder"))
    trainings.wait_pod("holder", "Running")
    trainings.create(gpu_training("waiter"))
    status = trainings.wait_phase("waiter", "Pending")
    status = trainings.wait.until(
        lambda: (
            (s := trainings.status("waiter")).get("message", "").startswith("pod unschedulable")
            and s
        ),
        what="the waiting training to say why it is Pending",
    )
    assert f"Insufficient {GPU_RESOURCE}" in status["message"]
    scheduled = _condition(status, "Scheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    # Once the first training is deleted its GPU goes to the waiting one.
    trainings.delete("holder")
    pod = trainings.wait_pod("waiter", "Running")
    assert pod.spec.node_name == GPU_NODE.name
    trainings.wait_phase("waiter", "Running")
    trainings.delete("waiter")
    trainings.wait_pods_gone("waiter")


def test_training_asking_more_gpus_than_any_node_has_stays_pending(trainings: Trainings) -> None:
    trainings.create(gpu_training("two-gpus", gpus=2))
    status = trainings.wait.until(
        lambda: "unschedulable" in (s := trainings.status("two-gpus")).get("message", "") and s,
        what="an Unschedulable message",
    )
    assert status["phase"] == "Pending"
    assert GPU_RESOURCE in status["message"]
    assert all(p.spec.node_name is None for p in trainings.pods("two-gpus"))


def test_succeeded_pod_fills_status_and_passes_the_gate(
    trainings: Trainings, trained: dict[str, Any]
) -> None:
    manifest = cpu_training("good")
    # A gate the real model clears: the example's bounds, below what it reached.
    roc_auc = trained["metrics"]["roc_auc"]
    manifest["spec"]["qualityGate"] = {
        "thresholds": [{"metric": "roc_auc", "min": round(roc_auc - 0.05, 4)}]
    }
    trainings.create(ending(manifest, "succeed", message=_message_for("good", trained)))
    status = trainings.wait_phase("good", "Succeeded")
    assert status["metrics"] == trained["metrics"]
    assert status["artifact"] == {
        "uri": "s3://models/loan-default/good",
        "digest": trained["digest"],
    }
    assert status["artifact"]["digest"].startswith("sha256:")
    assert status["headline"] == f"roc_auc={roc_auc:.4f}"
    assert [g["passed"] for g in status["gate"]] == [True]
    assert _condition(status, "Ready")["status"] == "True"
    assert _condition(status, "QualityGatePassed")["status"] == "True"
    reasons = trainings.event_reasons("good")
    assert reasons[0] == "JobCreated" and reasons[-1] == "Succeeded", reasons


def test_metrics_below_the_gate_reject_the_model(
    trainings: Trainings, trained: dict[str, Any]
) -> None:
    manifest = cpu_training("weak")
    bar = round(min(trained["metrics"]["roc_auc"] + 0.05, 0.999), 4)
    manifest["spec"]["qualityGate"] = {"thresholds": [{"metric": "roc_auc", "min": bar}]}
    trainings.create(ending(manifest, "succeed", message=_message_for("weak", trained)))
    status = trainings.wait_phase("weak", "Rejected")
    assert status["metrics"]["roc_auc"] == trained["metrics"]["roc_auc"]
    [gate] = status["gate"]
    assert (gate["metric"], gate["passed"], gate["threshold"]) == ("roc_auc", False, bar)
    assert "quality gate failed" in status["message"]
    assert _condition(status, "Ready")["status"] == "False"


def test_failed_pod_fails_the_training_with_its_reason(
    trainings: Trainings, tmp_path: Path
) -> None:
    manifest = cpu_training("broken")
    manifest["spec"]["dataset"]["labelColumn"] = "no_such_column"
    manifest["spec"]["job"]["backoffLimit"] = 0
    # What the real trainer writes when the label column is missing.
    with pytest.raises(subprocess.CalledProcessError):
        run_trainer(manifest, tmp_path)
    message = (tmp_path / "termination-log").read_text()
    error = json.loads(message)["error"]
    trainings.create(ending(manifest, "fail", message=message))
    status = trainings.wait_phase("broken", "Failed")
    assert error in status["message"]
    assert "exit code 1" in status["message"]
    assert _condition(status, "Ready")["status"] == "False"


def test_deleting_a_training_deletes_its_job_and_pods(trainings: Trainings) -> None:
    trainings.create(cpu_training("doomed"))
    trainings.wait_pod("doomed", "Running")
    trainings.delete("doomed")
    # The garbage collector follows the Job's owner reference; no finalizer involved.
    trainings.wait.until(lambda: not trainings.jobs("doomed"), what="the Job to be deleted")
    trainings.wait_pods_gone("doomed")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda spec: spec["resources"].update(gpu=-1), "spec.resources.gpu"),
        (lambda spec: spec["dataset"].pop("labelColumn"), "spec.dataset.labelColumn"),
    ],
    ids=["negative-gpu", "no-label-column"],
)
def test_invalid_training_is_refused_at_admission(
    trainings: Trainings, change: Any, field: str
) -> None:
    manifest = cpu_training("invalid")
    change(manifest["spec"])
    with pytest.raises(kubernetes.client.ApiException) as refused:
        trainings.create(manifest)
    assert refused.value.status == 422
    assert field in json.loads(refused.value.body)["message"]
    assert not trainings.jobs("invalid")


@pytest.mark.parametrize("crash", [False, True], ids=["sigterm", "sigkill"])
def test_restarted_operator_resumes_without_a_second_job(
    trainings: Trainings, operator: OperatorProcess, trained: dict[str, Any], crash: bool
) -> None:
    manifest = cpu_training("resumed")
    manifest["spec"]["qualityGate"] = {"thresholds": []}
    # Long enough to restart the operator while the pod runs.
    trainings.create(
        ending(manifest, "succeed", message=_message_for("resumed", trained), delay="8s")
    )
    trainings.wait_phase("resumed", "Running")
    [job] = trainings.jobs("resumed")
    operator.restart(crash=crash)
    status = trainings.wait_phase("resumed", "Succeeded")
    assert [j.metadata.uid for j in trainings.jobs("resumed")] == [job.metadata.uid]
    assert status["jobName"] == job.metadata.name
    assert status["metrics"] == trained["metrics"]


def test_training_created_while_the_operator_is_down_is_picked_up(
    trainings: Trainings, operator: OperatorProcess
) -> None:
    operator.stop()
    try:
        trainings.create(cpu_training("queued"))
    finally:
        operator.start()
    trainings.wait_pod("queued", "Running")
    assert len(trainings.jobs("queued")) == 1
    trainings.wait_phase("queued", "Running")


def test_refused_job_create_is_retried(
    trainings: Trainings, operator: OperatorProcess, kube_api: kubernetes.client.ApiClient
) -> None:
    core = kubernetes.client.CoreV1Api(kube_api)
    namespace = trainings.namespace
    core.create_namespaced_resource_quota(
        namespace, {"metadata": {"name": "no-jobs"}, "spec": {"hard": {"count/jobs.batch": "0"}}}
    )
    trainings.wait.until(
        lambda: core.read_namespaced_resource_quota("no-jobs", namespace).status.hard,
        what="the quota to be counted",
    )
    trainings.create(cpu_training("retried"))
    operator.wait_for_log("exceeded quota")
    core.delete_namespaced_resource_quota("no-jobs", namespace)
    trainings.wait.until(
        lambda: trainings.jobs("retried"),
        timeout=60,
        what="the Job, created once the quota is gone",
    )
