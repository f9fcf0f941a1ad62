"""spec.retraining on a real control plane, as the operator's ServiceAccount: the
`retrain` command creates a ModelTraining from the template, a retraining Rejected by its
quality gate leaves the release on its stable with a Warning Event, and an invalid
template creates nothing and says which field. kwok ends the training pods as their
annotations say; no model serves, so the release stays on its stable throughout."""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

import kubernetes
import pytest

from .trainings import Trainings, cpu_training, ending
from .waiting import Waiter

GROUP, VERSION, PLURAL = "modelrelease.dev", "v1alpha1", "modelreleases"
RELEASE = "loan-retraining"
PART_OF = "app.kubernetes.io/part-of"
COMMAND = "modelrelease.dev/command"


def weak_template() -> dict[str, Any]:
    """The example training, ending with a model whose roc_auc misses the gate."""
    summary = {
        "metrics": {"roc_auc": 0.61, "log_loss": 0.6},
        "artifactUri": "s3://models/loan-default/weak",
        "digest": "sha256:" + hashlib.sha256(b"weak").hexdigest(),
    }
    manifest = ending(
        cpu_training("template"), "succeed", message=json.dumps(summary, separators=(",", ":"))
    )
    spec: dict[str, Any] = manifest["spec"]
    spec["dataset"]["uri"] = "builtin:loan-default?rows=2000&seed={{sequence}}"
    spec["qualityGate"] = {"thresholds": [{"metric": "roc_auc", "min": 0.8}]}
    return spec


def release(namespace: str, template: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelRelease",
        "metadata": {"name": RELEASE, "namespace": namespace},
        "spec": {
            "modelName": "loan-default",
            "stable": {
                "artifactUri": "s3://models/loan-default/v1",
                "digest": "sha256:" + hashlib.sha256(b"v1").hexdigest(),
                "version": "v1",
            },
            "candidate": {"fromTrainings": {"matchLabels": {PART_OF: RELEASE}}},
            "serving": {"replicas": 1},
            "retraining": {
                "template": {"labels": labels, "spec": template},
                "triggers": {"onDegraded": False},
            },
        },
    }


def release_status(custom: kubernetes.client.CustomObjectsApi, namespace: str) -> dict[str, Any]:
    found = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, RELEASE)
    return dict(found.get("status") or {})


def send(custom: kubernetes.client.CustomObjectsApi, namespace: str, command: str) -> None:
    annotations = {"metadata": {"annotations": {COMMAND: command}}}
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, RELEASE, annotations)


def test_retrain_creates_the_template_and_a_rejected_retraining_changes_nothing(
    trainings: Trainings, kube_api: kubernetes.client.ApiClient, wait: Waiter
) -> None:
    custom = kubernetes.client.CustomObjectsApi(kube_api)
    namespace = trainings.namespace

    status = functools.partial(release_status, custom, namespace)

    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, release(namespace, weak_template(), {PART_OF: RELEASE})
    )
    wait.until(lambda: status().get("phase") == "Succeeded", what="v1 serving", timeout=60)
    send(custom, namespace, "retrain")
    name = f"{RELEASE}-retrain-1"
    created = wait.until(
        lambda: (status().get("lastCommand") or {}).get("result"), what="the retrain command"
    )
    assert created == f"created ModelTraining {name}"
    training = trainings.wait_phase(name, "Rejected")
    assert "roc_auc" in training["message"]
    made = trainings.get(name)
    assert made["metadata"]["labels"] == {
        PART_OF: RELEASE,
        "modelrelease.dev/retraining-of": RELEASE,
    }
    assert made["metadata"]["annotations"]["modelrelease.dev/retraining-trigger"] == "Command"
    assert made["spec"]["dataset"]["uri"] == "builtin:loan-default?rows=2000&seed=1"
    [owner] = made["metadata"]["ownerReferences"]
    assert owner["kind"] == "ModelRelease" and owner["name"] == RELEASE

    ended = wait.until(
        lambda: (s := status()).get("retraining", {}).get("history") and s,
        what="the retraining to end in status.retraining.history",
    )
    assert ended["retraining"]["history"][-1]["phase"] == "Rejected"
    assert "current" not in ended["retraining"]
    assert ended["phase"] == "Succeeded" and ended["stableVersion"] == "v1"
    assert "candidate" not in ended
    events = kubernetes.client.CoreV1Api(kube_api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={RELEASE}"
    )
    rejected = [e for e in events.items if e.reason == "RetrainingRejected"]
    assert rejected and rejected[0].type == "Warning"
    assert "stays on stable v1" in rejected[0].message


def test_a_template_fromtrainings_cannot_select_creates_nothing_and_names_the_field(
    trainings: Trainings, kube_api: kubernetes.client.ApiClient, wait: Waiter
) -> None:
    custom = kubernetes.client.CustomObjectsApi(kube_api)
    namespace = trainings.namespace
    body = release(namespace, weak_template(), {PART_OF: "something-else"})
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    status = functools.partial(release_status, custom, namespace)

    wait.until(lambda: status().get("phase") == "Succeeded", what="v1 serving", timeout=60)
    send(custom, namespace, "retrain")
    result = wait.until(
        lambda: (status().get("lastCommand") or {}).get("result"), what="the retrain command"
    )
    assert result.startswith(
        "ignored: spec.retraining.template.labels: spec.candidate.fromTrainings does not select"
    )
    listed = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "modeltrainings")
    assert listed["items"] == []


def test_retraining_without_fromtrainings_is_refused_at_admission(
    kube_api: kubernetes.client.ApiClient, namespace: str
) -> None:
    body = release(namespace, weak_template(), {PART_OF: RELEASE})
    body["spec"]["candidate"] = {"training": "loan-default-v2"}
    with pytest.raises(kubernetes.client.ApiException) as refused:
        kubernetes.client.CustomObjectsApi(kube_api).create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body
        )
    assert refused.value.status == 422
    assert "spec.retraining: needs spec.candidate.fromTrainings" in refused.value.body
