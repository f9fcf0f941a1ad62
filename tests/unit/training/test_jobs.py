from __future__ import annotations

import json

from modelrelease_operator.training.jobs import (
    GpuPlacement,
    TrainingRef,
    artifact_location,
    job_name,
    render_job,
)

from .specs import make_spec

REF = TrainingRef(name="loan-default-v1", namespace="ml", uid="0000-1111")


def container(job: dict) -> dict:
    return job["spec"]["template"]["spec"]["containers"][0]


def trainer_config(job: dict) -> dict:
    env = {item["name"]: item.get("value") for item in container(job)["env"]}
    return json.loads(env["MODELRELEASE_TRAINER_CONFIG"])


def test_cpu_training_renders_a_cpu_job_with_hist_and_no_gpu_fields() -> None:
    job = render_job(make_spec(), REF)
    pod = job["spec"]["template"]["spec"]
    assert container(job)["resources"] == {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    }
    assert "nodeSelector" not in pod and "tolerations" not in pod
    assert trainer_config(job)["device"] == "cpu"
    assert "nvidia.com/gpu" not in json.dumps(job)


def test_gpu_training_limits_the_gpu_tolerates_the_taint_and_selects_gpu_nodes() -> None:
    job = render_job(make_spec(resources={"gpu": 1}), REF)
    pod = job["spec"]["template"]["spec"]
    assert container(job)["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "nvidia.com/gpu" not in container(job)["resources"]["requests"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    assert trainer_config(job)["device"] == "cuda"


def test_gpu_placement_is_configurable_and_user_selectors_win() -> None:
    placement = GpuPlacement(node_selector={"accelerator": "h100"}, tolerations=())
    job = render_job(
        make_spec(resources={"gpu": 2}, nodeSelector={"zone": "a", "accelerator": "a100"}),
        REF,
        placement,
    )
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"accelerator": "a100", "zone": "a"}
    assert "tolerations" not in pod
    assert container(job)["resources"]["limits"]["nvidia.com/gpu"] == "2"


def test_job_is_owned_labelled_and_named_after_the_training() -> None:
    job = render_job(make_spec(), REF)
    meta = job["metadata"]
    assert meta["name"] == "loan-default-v1-train"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "modelrelease.dev/v1alpha1",
            "kind": "ModelTraining",
            "name": "loan-default-v1",
            "uid": "0000-1111",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "modelrelease-operator"
    assert meta["labels"]["modelrelease.dev/training"] == "loan-default-v1"
    assert job["spec"]["template"]["metadata"]["labels"] == meta["labels"]


def test_pod_passes_the_restricted_profile_fields() -> None:
    job = render_job(make_spec(), REF)
    pod = job["spec"]["template"]["spec"]
    security = container(job)["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["readOnlyRootFilesystem"] is True
    assert pod["restartPolicy"] == "Never"


def test_pvc_artifacts_are_mounted_and_the_trainer_writes_below_the_mount() -> None:
    job = render_job(make_spec(), REF)
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["artifacts"]["persistentVolumeClaim"] == {"claimName": "model-store"}
    output = trainer_config(job)["output"]
    assert output == {
        "path": "/var/lib/modelrelease/artifacts/loan-default/loan-default-v1",
        "uri": "pvc://model-store/loan-default/loan-default-v1",
    }


def test_object_store_credentials_come_from_the_secret_never_inline() -> None:
    spec = make_spec(artifacts={"uri": "s3://models/loan", "credentialsSecret": "s3-creds"})
    job = render_job(spec, REF)
    assert container(job)["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
    assert artifact_location(spec, "t1") == ("s3://models/loan/t1", "s3://models/loan/t1", None)
    assert "artifacts" not in {v["name"] for v in job["spec"]["template"]["spec"]["volumes"]}


def test_job_limits_and_pod_annotations_pass_through() -> None:
    spec = make_spec(
        job={"backoffLimit": 3, "activeDeadlineSeconds": 600, "ttlSecondsAfterFinished": 60},
        podAnnotations={"example.com/team": "risk"},
        priorityClassName="batch-low",
    )
    job = render_job(spec, REF)
    assert job["spec"]["backoffLimit"] == 3
    assert job["spec"]["activeDeadlineSeconds"] == 600
    assert job["spec"]["ttlSecondsAfterFinished"] == 60
    assert job["spec"]["template"]["metadata"]["annotations"] == {"example.com/team": "risk"}
    assert job["spec"]["template"]["spec"]["priorityClassName"] == "batch-low"


def test_long_training_names_give_valid_stable_job_names() -> None:
    long_name = "a" * 63
    assert len(job_name(long_name)) <= 63
    assert job_name(long_name) == job_name(long_name)
    assert job_name(long_name) != job_name("a" * 62 + "b")
