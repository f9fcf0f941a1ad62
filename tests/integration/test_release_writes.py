"""How the operator writes a release into the cluster, on a real control plane: it never
adopts an object it does not control (and so the garbage collector never deletes one with
the release), and a transition's Events are posted even when applying it fails."""

from __future__ import annotations

import hashlib
from typing import Any

import kubernetes

from .running_operator import OperatorProcess
from .waiting import Waiter

GROUP, VERSION, PLURAL = "modelrelease.dev", "v1alpha1", "modelreleases"
RELEASE = "loan-writes"


def release(namespace: str) -> dict[str, Any]:
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
            "serving": {"replicas": 1},
        },
    }


def foreign_deployment(name: str) -> dict[str, Any]:
    """Somebody else's Deployment that happens to have the name the release would use."""
    labels = {"app": "someone-else"}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 1000,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "web",
                            "image": "example.org/web:1",
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


def reasons(api: kubernetes.client.ApiClient, namespace: str) -> list[str]:
    events = kubernetes.client.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={RELEASE}"
    )
    return [e.reason for e in events.items]


def test_an_unrelated_deployment_of_the_same_name_is_neither_adopted_nor_deleted(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    wait: Waiter,
) -> None:
    apps = kubernetes.client.AppsV1Api(kube_api)
    custom = kubernetes.client.CustomObjectsApi(kube_api)
    apps.create_namespaced_deployment(namespace, foreign_deployment(f"{RELEASE}-v1"))
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, release(namespace))
    wait.until(
        lambda: "NotOwned" in reasons(kube_api, namespace),
        what="a NotOwned Event on the release",
    )
    events = kubernetes.client.CoreV1Api(kube_api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={RELEASE}"
    )
    [refused] = [e for e in events.items if e.reason == "NotOwned"]
    assert refused.type == "Warning"
    assert f"Deployment {RELEASE}-v1 already exists and is not controlled" in refused.message
    theirs = apps.read_namespaced_deployment(f"{RELEASE}-v1", namespace)
    assert not theirs.metadata.owner_references
    assert theirs.spec.replicas == 3
    assert theirs.spec.template.spec.containers[0].image == "example.org/web:1"
    # The release's own Service was still applied: only the foreign object is skipped.
    service = kubernetes.client.CoreV1Api(kube_api).read_namespaced_service(RELEASE, namespace)
    assert service.metadata.owner_references[0].name == RELEASE

    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, RELEASE)
    wait.until(
        lambda: (
            not kubernetes.client.CoreV1Api(kube_api)
            .list_namespaced_service(namespace, field_selector=f"metadata.name={RELEASE}")
            .items
        ),
        what="the garbage collector to delete the release's own Service",
    )
    assert apps.read_namespaced_deployment(f"{RELEASE}-v1", namespace).spec.replicas == 3


def test_events_of_a_transition_are_posted_even_when_applying_it_fails(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    wait: Waiter,
) -> None:
    # No Deployment may be created here: every apply of the stable's Deployment fails.
    kubernetes.client.CoreV1Api(kube_api).create_namespaced_resource_quota(
        namespace,
        {"metadata": {"name": "no-deployments"}, "spec": {"hard": {"count/deployments.apps": "0"}}},
    )
    custom = kubernetes.client.CustomObjectsApi(kube_api)
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, release(namespace))
    wait.until(
        lambda: "StableDeployed" in reasons(kube_api, namespace),
        what="the StableDeployed Event although the Deployment cannot be created",
    )
    apps = kubernetes.client.AppsV1Api(kube_api)
    assert not apps.list_namespaced_deployment(namespace).items
    status = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, RELEASE)
    assert status["status"]["history"][-1]["reason"] == "StableDeployed"
