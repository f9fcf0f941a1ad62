"""A distributed ModelTraining (spec.workers) against the real API server, Job controller
and scheduler: an Indexed Job, a headless Service, one pod per worker; kwok ends each pod
with the termination message the real trainer wrote for that rank."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from modelrelease_operator.api.training import ModelTrainingSpec
from modelrelease_operator.training import distributed
from modelrelease_operator.training.jobs import TrainingRef

from tests.controlplane.nodes import CPU_NODES
from tests.trainer.workers import run_workers

from .trainings import MESSAGE, Trainings, cpu_training, ending, gpu_training

WORKERS = 3


def _rendered_config(manifest: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The trainer config the operator gives the Job's pods."""
    spec = ModelTrainingSpec.model_validate(manifest["spec"])
    _, job = distributed.render(spec, TrainingRef(manifest["metadata"]["name"], namespace, "-"))
    [container] = job["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    config: dict[str, Any] = json.loads(env["MODELRELEASE_TRAINER_CONFIG"])
    return config


def test_workers_train_in_an_indexed_job_and_the_result_is_rank_0s(
    trainings: Trainings, tmp_path: Path
) -> None:
    manifest = cpu_training("spread")
    manifest["spec"]["workers"] = WORKERS
    # What each worker reports, from the real trainer run with the operator's config.
    summaries = run_workers(_rendered_config(manifest, trainings.namespace), tmp_path)
    assert "metrics" in summaries[0] and all("metrics" not in s for s in summaries[1:])
    ending(manifest, "succeed", delay="2s")
    for rank, summary in enumerate(summaries):
        manifest["spec"]["podAnnotations"][f"{MESSAGE}-{rank}"] = json.dumps(
            summary, separators=(",", ":"), sort_keys=True
        )
    trainings.create(manifest)

    status = trainings.wait_phase("spread", "Succeeded", timeout=180)
    assert status["metrics"] == summaries[0]["metrics"]
    assert status["artifact"] == {
        "uri": "s3://models/loan-default/spread",
        "digest": summaries[0]["digest"],
    }

    [job] = trainings.jobs("spread")
    name = job.metadata.name
    assert (job.spec.completion_mode, job.spec.completions, job.spec.parallelism) == (
        "Indexed",
        WORKERS,
        WORKERS,
    )
    service: Any = trainings.core.read_namespaced_service(name, trainings.namespace)
    assert service.spec.cluster_ip == "None"
    assert service.spec.selector == {"batch.kubernetes.io/job-name": name}
    [owner] = service.metadata.owner_references
    assert (owner.kind, owner.name) == ("ModelTraining", "spread")
    assert service.metadata.labels["app.kubernetes.io/instance"] == "spread"

    pods = trainings.pods("spread")
    indexes = sorted(p.metadata.annotations[distributed.INDEX_ANNOTATION] for p in pods)
    assert indexes == [str(rank) for rank in range(WORKERS)]
    cpu_nodes = {node.name for node in CPU_NODES}
    for pod in pods:
        index = pod.metadata.annotations[distributed.INDEX_ANNOTATION]
        assert pod.status.phase == "Succeeded"
        assert pod.spec.node_name in cpu_nodes
        assert (pod.spec.hostname, pod.spec.subdomain) == (f"{name}-{index}", name)
        # The service selects every worker, which is how rank 0's name resolves.
        assert pod.metadata.labels["batch.kubernetes.io/job-name"] == name
        [container] = pod.spec.containers
        assert [e.name for e in container.env].count("JOB_COMPLETION_INDEX") == 1


def test_deleting_a_distributed_training_deletes_its_service(trainings: Trainings) -> None:
    manifest = cpu_training("spread-doomed")
    manifest["spec"]["workers"] = 2
    trainings.create(manifest)
    trainings.wait.until(
        lambda: (
            len([p for p in trainings.pods("spread-doomed") if p.status.phase == "Running"]) == 2
        ),
        what="both workers running",
    )
    [job] = trainings.jobs("spread-doomed")
    trainings.core.read_namespaced_service(job.metadata.name, trainings.namespace)
    trainings.delete("spread-doomed")

    def service_gone() -> bool:
        try:
            trainings.core.read_namespaced_service(job.metadata.name, trainings.namespace)
        except kubernetes.client.ApiException as error:
            return bool(error.status == 404)
        return False

    trainings.wait.until(service_gone, what="the Service to be garbage-collected")


@pytest.mark.parametrize(
    ("workers", "gpus", "refusal"),
    [(2, 2, "one GPU per worker"), (65, 0, "spec.workers"), (0, 0, "spec.workers")],
)
def test_the_api_server_refuses_workers_it_cannot_run(
    trainings: Trainings, workers: int, gpus: int, refusal: str
) -> None:
    manifest = gpu_training("refused", gpus=gpus) if gpus else cpu_training("refused")
    manifest["spec"]["workers"] = workers
    with pytest.raises(kubernetes.client.ApiException) as refused:
        trainings.create(manifest)
    assert refused.value.status == 422
    assert refusal in str(refused.value.body)
