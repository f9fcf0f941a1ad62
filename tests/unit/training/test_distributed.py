"""spec.workers: the Indexed Job, the headless Service, and rank 0's result."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from modelrelease_operator.api.training import ModelTrainingStatus
from modelrelease_operator.training import distributed
from modelrelease_operator.training.decide import Observation, decide
from modelrelease_operator.training.jobs import TrainingRef, render_job
from pydantic import ValidationError

from .specs import make_spec
from .test_decide import NOW, SUMMARY, job, pod

REF = TrainingRef(name="loan-default-v1", namespace="ml", uid="0000-1111")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _pod(job: dict[str, Any]) -> dict[str, Any]:
    template: dict[str, Any] = job["spec"]["template"]["spec"]
    return template


def _trainer(job: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = _pod(job)["containers"][0]
    return container


def _config(job: dict[str, Any]) -> dict[str, Any]:
    env = {item["name"]: item for item in _trainer(job)["env"]}
    config: dict[str, Any] = json.loads(env["MODELRELEASE_TRAINER_CONFIG"]["value"])
    return config


def test_one_worker_renders_todays_single_pod_job_and_no_service() -> None:
    spec = make_spec()
    service, rendered = distributed.render(spec, REF)
    assert service is None
    assert rendered == render_job(spec, REF)
    assert "completionMode" not in rendered["spec"] and "subdomain" not in _pod(rendered)
    assert "distributed" not in _config(rendered)
    assert distributed.job_name(spec, REF.name) == "loan-default-v1-train"


@pytest.mark.parametrize(
    ("overrides", "device", "limits"),
    [
        ({"workers": 3}, "cpu", {"cpu": "1", "memory": "2Gi"}),
        (
            {"workers": 2, "resources": {"gpu": 1, "cpu": "4", "memory": "8Gi"}, "image": "t:1"},
            "cuda",
            {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"},
        ),
        ({"workers": 64}, "cpu", {"cpu": "1", "memory": "2Gi"}),
    ],
)
def test_workers_render_an_indexed_job_with_resources_per_pod(
    overrides: dict[str, Any], device: str, limits: dict[str, str]
) -> None:
    spec = make_spec(**overrides)
    workers = overrides["workers"]
    _, rendered = distributed.render(spec, REF)
    name = "loan-default-v1-train"
    assert rendered["metadata"]["name"] == name
    assert rendered["spec"]["completionMode"] == "Indexed"
    assert (rendered["spec"]["completions"], rendered["spec"]["parallelism"]) == (workers, workers)
    assert _pod(rendered)["subdomain"] == name
    assert _trainer(rendered)["resources"]["limits"] == limits
    config = _config(rendered)
    assert config["device"] == device
    assert config["distributed"] == {
        "workers": workers,
        "trackerHost": f"{name}-0.{name}",
        "trackerPort": distributed.TRACKER_PORT,
        "timeoutSeconds": distributed.TIMEOUT_SECONDS,
    }
    rank = next(e for e in _trainer(rendered)["env"] if e["name"] == "JOB_COMPLETION_INDEX")
    assert rank["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    )
    assert _trainer(rendered)["ports"] == [
        {"name": "tracker", "containerPort": distributed.TRACKER_PORT}
    ]


def test_the_headless_service_selects_the_jobs_pods_and_belongs_to_the_training() -> None:
    service, rendered = distributed.render(make_spec(workers=3), REF)
    assert service is not None
    name = rendered["metadata"]["name"]
    assert service["metadata"]["name"] == _pod(rendered)["subdomain"]
    assert service["metadata"]["namespace"] == "ml"
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"] == {"batch.kubernetes.io/job-name": name}
    [owner] = service["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "ModelTraining",
        "loan-default-v1",
        "0000-1111",
        True,
    )
    assert service["metadata"]["labels"] == rendered["metadata"]["labels"]
    assert service["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "modelrelease-operator"


@pytest.mark.parametrize(
    ("training", "expected"),
    [
        ("loan-default-v1", "loan-default-v1-train"),
        ("1st", None),  # a Service name starts with a letter
        ("loan.default", None),  # and has no dots
        ("a" * 63, None),  # and leaves the hostname room for "-63"
        ("a" * 54, "a" * 54 + "-train"),
    ],
)
def test_distributed_job_names_are_dns_labels_that_fit_the_hostnames(
    training: str, expected: str | None
) -> None:
    name = distributed.job_name(make_spec(workers=2), training)
    assert DNS_1035.match(name) and len(f"{name}-63") <= 63, name
    if expected is not None:
        assert name == expected
    assert name != distributed.job_name(make_spec(workers=2), training + "x")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"workers": 0}, "greater than or equal to 1"),
        ({"workers": 65}, "less than or equal to 64"),
        ({"workers": 2, "resources": {"gpu": 2}, "image": "t:1"}, "one GPU per worker"),
    ],
)
def test_bad_worker_counts_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_spec(**overrides)


def _indexed(phase: str, index: str, message: str, created: str) -> dict[str, Any]:
    found = pod(phase, message=message)
    found["metadata"] = {
        "name": f"t1-train-{index}-abcde",
        "creationTimestamp": created,
        "annotations": {distributed.INDEX_ANNOTATION: index},
    }
    return found


def test_the_result_is_rank_0s_termination_message_even_when_another_ended_last() -> None:
    others = json.dumps({"rank": 1, "workers": 3, "bestIteration": 7, "rows": {"train": 9}})
    pods = [
        _indexed("Succeeded", "0", json.dumps(SUMMARY), "2026-11-23T09:59:00Z"),
        _indexed("Succeeded", "1", others, "2026-11-23T09:59:30Z"),
        _indexed("Succeeded", "2", others, "2026-11-23T09:59:40Z"),
    ]
    decision = decide(
        make_spec(workers=3),
        ModelTrainingStatus(job_name="t1-train"),
        name="t1",
        generation=1,
        observed=Observation(job=job("Complete"), pods=pods),
        now=NOW,
    )
    assert decision.status.phase == "Succeeded", decision.status.message
    assert decision.status.metrics == SUMMARY["metrics"]
    assert decision.status.artifact is not None
    assert decision.status.artifact.digest == SUMMARY["digest"]


@pytest.mark.parametrize(
    ("annotations", "leader"),
    [({}, True), ({distributed.INDEX_ANNOTATION: "0"}, True)]
    + [({distributed.INDEX_ANNOTATION: index}, False) for index in ("1", "2", "10")],
)
def test_leaders_are_rank_0_and_unindexed_pods(annotations: dict[str, str], leader: bool) -> None:
    found = {"metadata": {"name": "p", "annotations": annotations}}
    assert distributed.leaders([found]) == ([found] if leader else [])
