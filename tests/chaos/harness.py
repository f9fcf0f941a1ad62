"""What the chaos tests share: a release judged from the real Prometheus, traffic from the
load generator, reads of the cluster shaped for assertions, a watch on the release, the
operator killed (SIGKILL) after each transition with the time it took to come back, and a
process frozen (SIGSTOP) for a while.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import kubernetes
import urllib3
from modelrelease_operator.api import GROUP, VERSION
from modelrelease_operator.api.release import ModelReleaseSpec, ModelReleaseStatus
from modelrelease_operator.release import routing
from prometheus_client.parser import text_string_to_metric_families

from tests.controlplane.processes import Process
from tests.integration.running_operator import OperatorProcess
from tests.realmetrics import artifacts
from tests.realmetrics.prometheus import Prometheus
from tests.realmetrics.routing import ClusterRouting, Weights
from tests.realmetrics.serving import Artifact, ServingProcess
from tests.realmetrics.traffic import LoadGenerator

PLURAL = "modelreleases"
RELEASE = "loan-default"
#: Requests a second (four records each), split by the replica shares the operator applied.
RATE = 30.0
TERMINAL = frozenset({"Succeeded", "RolledBack", "Failed"})
#: How long the operator may take to come back and make the cluster match status.
RECOVERY_TIMEOUT = 90.0


def manifest(
    prometheus: Prometheus,
    store: artifacts.ArtifactStore,
    model: str,
    stable: Artifact,
    candidate: Artifact,
    *,
    stages: list[dict[str, Any]],
    replicas: int,
    gates: dict[str, Any] | None = None,
    timeout_seconds: int = 5,
    **analysis: Any,
) -> dict[str, Any]:
    """A release naming both artifacts by http:// URI and digest, judged every second from
    the real Prometheus (as tests/integration/test_release.py does)."""

    def named(artifact: Artifact) -> dict[str, str]:
        return {
            "artifactUri": store.uri(artifact),
            "digest": artifact.digest,
            "version": artifact.version,
        }

    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelRelease",
        "metadata": {"name": RELEASE},
        "spec": {
            "modelName": model,
            "stable": named(stable),
            "candidate": named(candidate),
            "serving": {"replicas": replicas},
            "stages": stages,
            # The offline comparison is not what these tests check.
            "riskCheck": {"metrics": [{"metric": "roc_auc", "maxDegradation": 1.0}]},
            "analysis": {
                "interval": "1s",
                "provider": {
                    "type": "prometheus",
                    "prometheus": {"address": prometheus.url, "timeoutSeconds": timeout_seconds},
                },
                # Latency: generous; two busy shared cores answer in milliseconds, not always.
                "gates": gates or {"errorRate": {"max": 0.05}, "latency": {"maxSeconds": 2.0}},
                **analysis,
            },
        },
    }


def expected_deployments(body: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """Deployment name → (track, replicas) that the release's status asks for."""
    spec = ModelReleaseSpec.model_validate(body["spec"])
    status = ModelReleaseStatus.model_validate(body.get("status") or {})
    meta = body["metadata"]
    owner = routing.Owner(meta["name"], meta["namespace"], meta["uid"])
    return {
        d["metadata"]["name"]: (d["metadata"]["labels"][routing.TRACK_LABEL], d["spec"]["replicas"])
        for d in routing.deployments(spec, status, owner)
    }


class Cluster:
    """Reads and writes of one namespace's release, shaped for assertions."""

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.apps = kubernetes.client.AppsV1Api(api)
        self.routing = ClusterRouting(api, namespace, RELEASE)

    def create(self, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def release(self) -> dict[str, Any]:
        found = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, RELEASE, _request_timeout=30
        )
        return dict(found)

    def status(self) -> dict[str, Any]:
        return dict(self.release().get("status") or {})

    def deployments(self) -> dict[str, tuple[str, int]]:
        """Deployment name → (track, replicas asked for)."""
        found = self.apps.list_namespaced_deployment(self.namespace, _request_timeout=30)
        return {
            d.metadata.name: (d.metadata.labels[routing.TRACK_LABEL], d.spec.replicas)
            for d in found.items
        }

    def ready_pods(self) -> dict[str, int]:
        found = self.apps.list_namespaced_deployment(self.namespace, _request_timeout=30)
        return {d.metadata.name: d.status.ready_replicas or 0 for d in found.items}

    def converged(self) -> bool:
        """The Deployments are what the release's status asks for now."""
        return self.deployments() == expected_deployments(self.release())

    def weights(self) -> Weights:
        """The traffic split the load generator reads (the replica shares)."""
        return self.routing.weights("replicas")

    def annotate(self, command: str) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            RELEASE,
            {"metadata": {"annotations": {"modelrelease.dev/command": command}}},
        )


def history(body_or_status: dict[str, Any]) -> list[dict[str, Any]]:
    status = body_or_status.get("status", body_or_status) or {}
    return list(status.get("history") or [])


def transitions(body_or_status: dict[str, Any]) -> list[tuple[str, str]]:
    """(reason, stage) of each history entry, oldest first."""
    return [(h["reason"], h.get("stage") or "") for h in history(body_or_status)]


def describe(entry: tuple[str, str] | dict[str, Any]) -> str:
    reason, stage = (
        (entry["reason"], entry.get("stage") or "") if isinstance(entry, dict) else entry
    )
    return f"{reason} {stage}".strip()


def explain(status: dict[str, Any], operator: OperatorProcess) -> str:
    lines = [f"  {h['time']} {h['phase']} {describe(h)} {h['weight']}%" for h in history(status)]
    return (
        f"phase {status.get('phase')}: {status.get('message')}\n"
        f"gates: {status.get('gates')}\nhistory:\n" + "\n".join(lines) + "\n"
        f"operator log ({operator.log}) ends:\n{operator.tail(40)}"
    )


@contextmanager
def traffic(
    api: kubernetes.client.ApiClient,
    namespace: str,
    servers: dict[str, ServingProcess],
    seconds: float = 300.0,
) -> Iterator[LoadGenerator]:
    """Predictions sent to the serving processes by the replica shares in the cluster
    (re-read every 0.5 s; while the API server does not answer, the last ones)."""
    split = ClusterRouting(api, namespace, RELEASE)
    load = LoadGenerator(
        {version: process.url for version, process in servers.items()},
        lambda: split.weights("replicas"),
        rate=RATE,
        max_seconds=seconds,
        max_requests=int(RATE * seconds),
        feedback_share=0.0,
    )
    with load:
        yield load
    assert load.error is None, load.error


def watch(
    api: kubernetes.client.ApiClient, namespace: str, deadline: float
) -> Iterator[dict[str, Any]]:
    """The release as the API server sends it on a watch, each change as it is written,
    until `deadline` (time.monotonic()); the stream is opened again whenever it ends."""
    custom = kubernetes.client.CustomObjectsApi(api)
    while time.monotonic() < deadline:
        stream = kubernetes.watch.Watch()
        try:
            for event in stream.stream(
                custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                field_selector=f"metadata.name={RELEASE}",
                timeout_seconds=5,
                _request_timeout=30,
            ):
                found = event.get("object")
                if event.get("type") in {"ADDED", "MODIFIED"} and isinstance(found, dict):
                    yield found
                if time.monotonic() > deadline:
                    return
        except (kubernetes.client.ApiException, urllib3.exceptions.HTTPError, OSError):
            time.sleep(0.2)
        finally:
            stream.stop()


def announced(
    api: kubernetes.client.ApiClient, namespace: str, expected: list[tuple[str, str]]
) -> tuple[int, list[str]]:
    """How many of the `expected` transitions have their Event on the release, and the
    reasons of Events beyond those (a transition announced twice)."""
    found = kubernetes.client.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={RELEASE},involvedObject.kind=ModelRelease"
    )
    told = Counter(e.reason for e in found.items)
    wanted = Counter(reason for reason, _ in expected)
    extra = [reason for reason in wanted for _ in range(told[reason] - wanted[reason])]
    return sum(min(told[r], n) for r, n in wanted.items()), extra


def healthz(port: int) -> bool:
    return liveness(port) is not None


def liveness(port: int) -> dict[str, Any] | None:
    """The operator's /healthz answer (kopf's liveness endpoint), None unless 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            if answer.status != 200:
                return None
            found = json.loads(answer.read() or b"{}")
            return found if isinstance(found, dict) else {}
    except (OSError, ValueError):
        return None


@dataclass
class Kill:
    """One SIGKILL of the operator, right after the history entry `after` appeared."""

    after: str
    #: The Deployments did not yet match the status just written: the kill came between
    #: the status write and the cluster change.
    before_apply: bool
    #: Kill → the new process's liveness endpoint answered (None: killed again first).
    live: float | None = None
    #: Kill → live and the Deployments matched status again.
    recovered: float | None = None
    superseded: bool = False

    def line(self) -> str:
        when = "before the apply" if self.before_apply else "after the apply"
        if self.recovered is not None:
            back = (
                f"live after {self.live:.2f}s, cluster matches status after {self.recovered:.2f}s"
            )
        elif self.superseded:
            back = "killed again before it recovered"
        else:
            back = "did not recover"
        return f"kill -9 after {self.after} ({when}): {back}"


@dataclass
class Killer:
    """SIGKILLs the operator each time a new history entry appears and starts it again
    at once; a thread per kill measures how long the operator took to come back."""

    operator: OperatorProcess
    cluster: Cluster
    kills: list[Kill] = field(default_factory=list)
    #: The history length the last kill followed.
    killed_through: int = 0
    _threads: list[threading.Thread] = field(default_factory=list)

    def after_new_entry(self, body: dict[str, Any]) -> bool:
        """Kill if `body` shows an entry no kill has followed yet."""
        if len(history(body)) <= self.killed_through:
            return False
        self.kill()
        return True

    def kill(self) -> None:
        began = time.monotonic()
        self.operator.sigkill()
        # Nothing changes the release or its Deployments while the operator is down.
        body = self.cluster.release()
        entries = history(body)
        self.killed_through = len(entries)
        before_apply = self.cluster.deployments() != expected_deployments(body)
        for earlier in self.kills:
            earlier.superseded = earlier.recovered is None
        kill = Kill(describe(entries[-1]) if entries else "(none)", before_apply)
        self.kills.append(kill)
        # Not waiting for it to be live: the next transition may come before that.
        self.operator.start(wait=False)
        thread = threading.Thread(
            target=self._recovery, args=(kill, began, self.operator.liveness_port), daemon=True
        )
        thread.start()
        self._threads.append(thread)

    def _recovery(self, kill: Kill, began: float, port: int) -> None:
        deadline = began + RECOVERY_TIMEOUT
        while time.monotonic() < deadline and not kill.superseded:
            if kill.live is None and healthz(port):
                kill.live = time.monotonic() - began
            if kill.live is not None:
                with contextlib.suppress(Exception):
                    if self.cluster.converged():
                        kill.recovered = time.monotonic() - began
                        return
            time.sleep(0.05)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(RECOVERY_TIMEOUT + 5)


def roll_out_killing(
    killer: Killer, api: kubernetes.client.ApiClient, namespace: str, timeout: float
) -> dict[str, Any]:
    """Follow the release until it ends, killing the operator after every transition
    (the last one included); returns the release once the last kill has recovered."""
    for body in watch(api, namespace, time.monotonic() + timeout):
        killer.after_new_entry(body)
        phase = (body.get("status") or {}).get("phase")
        if phase in TERMINAL and len(history(body)) <= killer.killed_through:
            break
    killer.join()
    return killer.cluster.release()


@contextmanager
def frozen(process: Process) -> Iterator[None]:
    """SIGSTOP the process (its group): it keeps its sockets but answers nothing, as a
    hung server does. SIGCONT when the block ends, however it ends."""
    os.killpg(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(process.pid, signal.SIGCONT)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def operator_metrics(operator: OperatorProcess) -> Samples:
    """The operator's own /metrics (not through the API server), parsed:
    (sample name, sorted labels) → value."""
    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(
        value
        for (sample, found), value in samples.items()
        if sample == name and labels.items() <= dict(found).items()
    )
