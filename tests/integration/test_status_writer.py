"""Both kinds write status through one writer: only the change, and only onto the
version the decision was read from (a stale read gets 409, never an overwrite)."""

from __future__ import annotations

import kubernetes
import pytest
from modelrelease_operator import kube
from modelrelease_operator.handlers import status_writer

from .running_operator import OperatorProcess
from .trainings import cpu_training

GROUP, VERSION = "modelrelease.dev", "v1alpha1"


@pytest.fixture
def writer_client(kube_api: kubernetes.client.ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # The writer's client, pointed at the test's control plane (as the admin): the same
    # real API server the operator talks to.
    monkeypatch.setattr(kube, "api_client", lambda: kube_api)


def test_a_status_decided_from_a_stale_read_is_refused(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    writer_client: None,
    operator_process: OperatorProcess,
) -> None:
    custom = kubernetes.client.CustomObjectsApi(kube_api)
    plural = "modeltrainings"
    # No operator runs in this test (the `operator` fixture brings it back for the next
    # one): only the writes below touch the status.
    operator_process.stop()
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ModelTraining", **cpu_training("stale")}
    created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)
    first = {"phase": "Pending", "message": "first", "jobName": "stale-train"}
    assert status_writer.write(plural, created, first)
    fresh = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, "stale")
    assert fresh["status"] == first
    # `created` is stale now: writing a decision made from it must not land.
    with pytest.raises(kubernetes.client.ApiException) as refused:
        status_writer.write(plural, created, {"phase": "Running", "message": "stale"})
    assert refused.value.status == 409
    kept = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, "stale")
    assert kept["status"]["message"] == "first"
    # From the fresh read: only the difference is sent, and a removed field goes away.
    assert status_writer.write(plural, fresh, {"phase": "Running", "message": "first"})
    final = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, "stale")
    assert final["status"] == {"phase": "Running", "message": "first"}  # jobName removed
    unchanged = {"phase": "Running", "message": "first"}
    assert not status_writer.write(plural, final, unchanged)
