"""Two operator processes on the real control plane, each under the operator's
ServiceAccount (so with exactly the RBAC of manifests/, the leader election Role among
it), electing a leader on the Lease `modelrelease-system/modelrelease-operator`:
only the holder acts; a killed leader's lease is taken over once it expires, and the new
leader carries on a release it did not start, from the tick schedule it kept while it
stood by; a leader that shuts down hands over at once.

The session's own operator (no leader election) is stopped for these tests and started
again after each.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .running_operator import NAMESPACE, OperatorProcess
from .waiting import Waiter

GROUP, VERSION, PLURAL = "modelrelease.dev", "v1alpha1", "modelreleases"
LEASE = "modelrelease-operator"
RELEASE = "loan-elected"
#: Short, to keep the tests short; the production defaults are 15, 10 and 2.
DURATION, RENEW_DEADLINE, RETRY = 6, 4, 1


class Pair:
    """Two operator processes with leader election on, `a` and `b`."""

    def __init__(self, kubeconfig: Path, workdir: Path, api: kubernetes.client.ApiClient) -> None:
        self.api = api
        self.processes = {
            name: OperatorProcess(
                kubeconfig,
                workdir,
                name=name,
                env={
                    "MODELRELEASE_LEADER_ELECTION": "true",
                    "MODELRELEASE_LEADER_IDENTITY": name,
                    "MODELRELEASE_LEASE_DURATION_SECONDS": str(DURATION),
                    "MODELRELEASE_LEASE_RENEW_DEADLINE_SECONDS": str(RENEW_DEADLINE),
                    "MODELRELEASE_LEASE_RETRY_SECONDS": str(RETRY),
                },
            )
            for name in ("operator-a", "operator-b")
        }

    def start_both(self) -> None:
        """Both processes started before either is waited for: they race for the Lease."""
        for process in self.processes.values():
            process.start(wait=False)
        for process in self.processes.values():
            process.wait_live()

    def lease(self) -> dict[str, Any] | None:
        try:
            found = kubernetes.client.CoordinationV1Api(self.api).read_namespaced_lease(
                LEASE, NAMESPACE
            )
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return None
            raise
        spec: dict[str, Any] = self.api.sanitize_for_serialization(found)["spec"]
        return spec

    def holder(self) -> str:
        return str((self.lease() or {}).get("holderIdentity") or "")

    def other(self, name: str) -> str:
        return next(n for n in self.processes if n != name)

    def context(self) -> str:
        return "\n".join(
            f"{name} log ({p.log}) ends:\n{p.tail(40)}" for name, p in self.processes.items()
        )


def delete_lease(api: kubernetes.client.ApiClient) -> None:
    try:
        kubernetes.client.CoordinationV1Api(api).delete_namespaced_lease(LEASE, NAMESPACE)
    except kubernetes.client.ApiException as error:
        if error.status != 404:
            raise


@pytest.fixture
def pair(
    operator_process: OperatorProcess,
    kube_api: kubernetes.client.ApiClient,
    tmp_path: Path,
) -> Iterator[Pair]:
    was_running = operator_process.alive()
    operator_process.stop()  # the session's operator would act beside them
    delete_lease(kube_api)
    both = Pair(operator_process.kubeconfig, tmp_path, kube_api)
    try:
        yield both
    finally:
        for process in both.processes.values():
            process.kill()
        delete_lease(kube_api)
        if was_running:
            operator_process.start()


def health(process: OperatorProcess) -> dict[str, Any]:
    url = f"http://127.0.0.1:{process.liveness_port}/healthz"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        answer: dict[str, Any] = json.loads(response.read())["loops"]
        return answer


def reconciles(process: OperatorProcess) -> float:
    """How many release reconciles the process ran (its own metrics)."""
    url = f"http://127.0.0.1:{process.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        if family.name == "modelrelease_operator_reconcile_seconds":
            for sample in family.samples:
                if sample.name.endswith("_count"):
                    return float(sample.value)
    return 0.0


def release(namespace: str) -> dict[str, Any]:
    """Two artifacts, a first stage that lasts; metrics from a Prometheus that is not
    there, so every check of the analysis interval writes status (lastCheckAt,
    unavailableChecks) and the release waits for ever (unavailableLimit 0)."""

    def artifact(version: str) -> dict[str, str]:
        digest = hashlib.sha256(version.encode()).hexdigest()
        return {
            "artifactUri": f"s3://models/loan-default/{version}",
            "digest": f"sha256:{digest}",
            "version": version,
        }

    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelRelease",
        "metadata": {"name": RELEASE, "namespace": namespace},
        "spec": {
            "modelName": "loan-default",
            "stable": artifact("v1"),
            "candidate": artifact("v2"),
            "serving": {"replicas": 2},
            "stages": [{"weight": 50, "duration": "1h"}, {"weight": 100, "duration": "1h"}],
            "analysis": {
                "interval": "1s",
                "unavailableLimit": 0,
                "provider": {
                    "type": "prometheus",
                    "prometheus": {"address": "http://127.0.0.1:1", "timeoutSeconds": 1},
                },
            },
        },
    }


def status(api: kubernetes.client.ApiClient, namespace: str) -> dict[str, Any]:
    body = kubernetes.client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, RELEASE
    )
    return dict(body.get("status") or {})


def test_one_leader_acts_and_a_killed_one_is_taken_over(
    pair: Pair, kube_api: kubernetes.client.ApiClient, namespace: str
) -> None:
    wait = Waiter(kube_api, namespace, pair.context)
    pair.start_both()
    leader = wait.until(pair.holder, what="a holder of the Lease", timeout=30)
    standby = pair.other(leader)
    first = pair.lease()
    assert first is not None
    assert (first["leaseDurationSeconds"], first["leaseTransitions"]) == (DURATION, 0)
    assert health(pair.processes[leader])["leader"] is True
    assert health(pair.processes[standby])["leader"] is False

    kubernetes.client.CustomObjectsApi(kube_api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, release(namespace)
    )
    wait.until(
        lambda: status(kube_api, namespace).get("unavailableChecks", 0) >= 3,
        what="the release at its first stage, checked every second",
        timeout=90,
    )
    assert status(kube_api, namespace)["candidateWeight"] == 50
    # Only the holder acted; the standby saw every event (it kept the schedule) and
    # reconciled nothing. The lease never changed hands.
    assert reconciles(pair.processes[leader]) > 0
    assert reconciles(pair.processes[standby]) == 0
    assert pair.holder() == leader
    assert (pair.lease() or {})["leaseTransitions"] == 0

    # kill -9: no cleanup, the lease stays the dead leader's until it expires.
    pair.processes[leader].kill()
    killed = time.monotonic()
    wait.until(lambda: pair.holder() == standby, what=f"{standby} to take the Lease", timeout=30)
    took = time.monotonic() - killed
    # Not before the lease could have expired (its last renewal was at most RETRY before
    # the kill), and about the lease's duration after.
    assert DURATION - RETRY - 1 <= took <= DURATION + 2 * RETRY + 3, took
    assert (pair.lease() or {})["leaseTransitions"] == 1
    # /healthz says so too (Kopf keeps a probe's answer for 10 s).
    wait.until(lambda: health(pair.processes[standby])["leader"], what="/healthz", timeout=15)

    # The new leader carries on the release the old one started: from its tick
    # schedule (nothing about the release changed since the takeover).
    before = status(kube_api, namespace)
    wait.until(
        lambda: status(kube_api, namespace)["unavailableChecks"] >= before["unavailableChecks"] + 2,
        what=f"{standby} to check the release on its ticks",
        timeout=30,
    )
    assert reconciles(pair.processes[standby]) > 0
    # And it acts on a command: the next stage.
    kubernetes.client.CustomObjectsApi(kube_api).patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        RELEASE,
        {"metadata": {"annotations": {"modelrelease.dev/command": "promote"}}},
    )
    wait.until(
        lambda: status(kube_api, namespace).get("stageIndex") == 1,
        what=f"{standby} to promote the release to its second stage",
        timeout=60,
    )
    assert status(kube_api, namespace)["lastCommand"]["command"] == "promote"


def test_a_leader_that_shuts_down_hands_over_at_once(
    pair: Pair, kube_api: kubernetes.client.ApiClient
) -> None:
    wait = Waiter(kube_api, None, pair.context)
    pair.start_both()
    leader = wait.until(pair.holder, what="a holder of the Lease", timeout=30)
    standby = pair.other(leader)
    pair.processes[leader].stop()  # SIGTERM, as a rolling update or a drain
    stopped = time.monotonic()
    assert "gave the Lease up" in pair.processes[leader].text()
    wait.until(
        lambda: pair.holder() == standby,
        what=f"{standby} to take the Lease",
        timeout=30,
        interval=0.2,
    )
    # Well within the lease's duration: it was given up, not left to expire.
    assert time.monotonic() - stopped < DURATION - 1
    assert (pair.lease() or {})["leaseTransitions"] == 1
    wait.until(lambda: health(pair.processes[standby])["leader"], what="/healthz", timeout=15)
