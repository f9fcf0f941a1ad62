"""Outages in the middle of a stage: the API server, then Prometheus, frozen with SIGSTOP
(a hung server: connections open, nothing answers) and thawed with SIGCONT.

- API server, 60 s: the operator's calls time out (kube.py) and fail; it records
  nothing and decides nothing until the API server answers again, stays alive, and
  then carries the rollout on to Succeeded.
- Prometheus: its queries time out; no gate passes on missing metrics, and after
  `analysis.unavailableLimit` checks without them the default `analysis.unavailable`
  (Pause) pauses the rollout; once Prometheus answers again `resume` completes it.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import kubernetes
import pytest

from tests.controlplane.cluster import ControlPlane
from tests.integration.running_operator import OperatorProcess
from tests.integration.waiting import Waiter
from tests.realmetrics import artifacts
from tests.realmetrics.fixtures import ServingFactory
from tests.realmetrics.prometheus import Prometheus

from .conftest import report
from .harness import (
    RELEASE,
    TERMINAL,
    Cluster,
    explain,
    frozen,
    healthz,
    liveness,
    manifest,
    operator_metrics,
    total,
    traffic,
    transitions,
)

REPLICAS = 4
#: How long the API server stays frozen: longer than the operator's API read timeout
#: (30 s), so every call in flight when it froze fails rather than waits.
API_OUTAGE = 60.0


def _promoted(candidate: str) -> dict[str, tuple[str, int]]:
    return {f"{RELEASE}-{candidate}": ("stable", REPLICAS), f"{RELEASE}-v1": ("previous", 0)}


def _stage_judged(cluster: Cluster, stage: str) -> dict[str, Any] | None:
    """The status once `stage`'s weight is set and its judgement window open."""
    status = cluster.status()
    if ("WeightSet", stage) in transitions(status) and status.get("window"):
        return status
    return None


def test_api_server_frozen_for_a_minute_mid_stage(
    request: pytest.FixtureRequest,
    control_plane: ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    wait: Waiter,
    operator: OperatorProcess,
    prometheus: Prometheus,
    models: artifacts.Models,
    artifact_store: artifacts.ArtifactStore,
    serving: ServingFactory,
) -> None:
    cluster = Cluster(kube_api, namespace)
    model = "loan-default-chaos-apiserver"
    servers = serving(model, [models.stable, models.good])
    body = manifest(
        prometheus,
        artifact_store,
        model,
        models.stable,
        models.good,
        stages=[
            {"weight": 25, "duration": "4s", "minRequests": 10},
            {"weight": 50, "duration": "30s", "minRequests": 10},
            {"weight": 100, "duration": "4s", "minRequests": 10},
        ],
        replicas=REPLICAS,
    )
    mine = {"namespace": namespace, "release": RELEASE}
    starts = operator.starts
    apiserver = control_plane.processes["kube-apiserver"]
    with traffic(kube_api, namespace, servers) as load:
        cluster.create(body)
        before = wait.until(
            lambda: _stage_judged(cluster, "2/3"), what="stage 2/3 judged", timeout=120
        )
        logged = len(operator.text())
        with frozen(apiserver):
            froze = time.monotonic()
            time.sleep(1)  # a reply already on its way may still land
            at_start = operator_metrics(operator)
            time.sleep(API_OUTAGE - 1)
            at_end = operator_metrics(operator)
            alive_while_frozen = operator.alive()
            live_while_frozen = liveness(operator.liveness_port)
            meanwhile = operator.text()[logged:]
        thawed = time.monotonic()
        moved: float = wait.until(
            lambda: (
                len(transitions(cluster.status())) > len(transitions(before))
                and time.monotonic() - thawed
            ),
            what="the next transition after the outage",
            timeout=120,
            interval=0.1,
        )
        final = wait.until(
            lambda: (s := cluster.status()).get("phase") in TERMINAL and s,
            what="the release to end",
            timeout=120,
        )
        done = time.monotonic() - thawed

    # The node lifecycle controller may find the nodes' heartbeats stale once it runs
    # again, and mark their pods not ready for a moment (kwok/pods-ready-again.yaml).
    unready = sum(
        e.reason == "NodeNotReady"
        for e in kubernetes.client.CoreV1Api(kube_api).list_namespaced_event(namespace).items
    )
    decisions = "modelrelease_operator_decisions_total"
    # Its calls failed on their timeouts (kube.py) and were logged, rather than hanging.
    timeouts = len(re.findall(r"timed out|[Tt]imeout", meanwhile))
    since = (live_while_frozen or {}).get("loops", {}).get("sinceLastPass")
    report(
        request.config,
        f"kube-apiserver frozen {thawed - froze:.0f}s mid-stage 2/3: the operator stayed up "
        f"(its loops' last passes at the end: {since} s ago), its log mentioning timeouts "
        f"{timeouts} times meanwhile; next "
        f"transition {moved:.1f}s after SIGCONT, {final['phase']} {done:.1f}s after it; "
        f"{unready} pods marked NodeNotReady after it; {load.stats.weight_read_errors} "
        "weight reads of the load generator failed",
    )

    assert alive_while_frozen and operator.alive() and operator.starts == starts
    assert live_while_frozen is not None, "the liveness endpoint failed during the outage"
    assert healthz(operator.liveness_port), "the operator's liveness endpoint does not answer"
    control_plane.check_running()
    # Nothing recorded while it was frozen (the counter counts decisions written to
    # status), and its calls failed on their timeouts instead of hanging.
    assert total(at_end, decisions, **mine) == total(at_start, decisions, **mine)
    assert timeouts >= 1, f"no call timed out while the API server was frozen:\n{meanwhile}"

    assert final["phase"] == "Succeeded", explain(final, operator)
    # The history before the outage stays, and after it only the stages' own transitions
    # follow: no rollback, no failed check, nothing decided on the reads that failed.
    assert transitions(final) == [
        *transitions(before),
        ("StagePassed", "3/3"),
        ("WeightSet", "3/3"),
        ("Promoted", "3/3"),
    ], explain(final, operator)
    assert not final.get("failedChecks") and not final.get("failedGate"), explain(final, operator)
    wait.until(
        lambda: cluster.deployments() == _promoted(models.good.version),
        what="promoted Deployments",
    )


def test_prometheus_frozen_mid_stage_pauses_until_resumed(
    request: pytest.FixtureRequest,
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    wait: Waiter,
    operator: OperatorProcess,
    prometheus: Prometheus,
    models: artifacts.Models,
    artifact_store: artifacts.ArtifactStore,
    serving: ServingFactory,
) -> None:
    cluster = Cluster(kube_api, namespace)
    model = "loan-default-chaos-prometheus"
    servers = serving(model, [models.stable, models.good])
    duration = 6
    limit = 3
    body = manifest(
        prometheus,
        artifact_store,
        model,
        models.stable,
        models.good,
        stages=[
            {"weight": 25, "duration": "4s", "minRequests": 10},
            {"weight": 50, "duration": f"{duration}s", "minRequests": 10},
            {"weight": 100, "duration": "4s", "minRequests": 10},
        ],
        replicas=REPLICAS,
        timeout_seconds=2,
        # `unavailable` left out: the default, Pause.
        unavailableLimit=limit,
    )
    assert prometheus.process is not None
    with traffic(kube_api, namespace, servers):
        cluster.create(body)
        before = wait.until(
            lambda: _stage_judged(cluster, "2/3"), what="stage 2/3 judged", timeout=120
        )
        window = datetime.fromisoformat(before["window"]["startedAt"]).timestamp()
        with frozen(prometheus.process):
            froze = time.monotonic()
            unavailable = wait.until(
                lambda: "metrics unavailable" in str((s := cluster.status()).get("message")) and s,
                what="status saying the metrics are unavailable",
                timeout=60,
                interval=0.2,
            )
            noticed = time.monotonic() - froze
            paused = wait.until(
                lambda: (s := cluster.status()).get("phase") == "Paused" and s,
                what=f"Paused after {limit} checks without metrics",
                timeout=120,
                interval=0.2,
            )
            paused_after = time.monotonic() - froze
            # Hold it until the stage's duration has long passed: with metrics it would
            # have passed by now; without them it must not.
            time.sleep(max(2.0, window + duration + 3 - time.time()))
            held = cluster.status()
        thawed = time.monotonic()
        wait.until(lambda: prometheus.query("up"), what="Prometheus answering again", timeout=60)
        cluster.annotate("resume")
        final = wait.until(
            lambda: (s := cluster.status()).get("phase") in TERMINAL and s,
            what="the release to end after resume",
            timeout=120,
        )
        done = time.monotonic() - thawed

    report(
        request.config,
        f"Prometheus frozen {thawed - froze:.0f}s mid-stage 2/3: status said so after "
        f"{noticed:.1f}s, Paused (Unavailable) after {paused_after:.1f}s; after SIGCONT and "
        f"resume {final['phase']} in {done:.1f}s",
    )

    assert unavailable.get("phase") == "Progressing", explain(unavailable, operator)
    assert paused["pausedReason"] == "Unavailable", explain(paused, operator)
    assert paused["unavailableChecks"] >= limit, explain(paused, operator)
    assert transitions(paused)[-1] == ("PausedUnavailable", "2/3"), explain(paused, operator)
    # Frozen for longer than the stage lasts, and still no StagePassed.
    assert held["phase"] == "Paused" and "metrics unavailable" in held["message"]
    assert transitions(held) == [*transitions(before), ("PausedUnavailable", "2/3")], explain(
        held, operator
    )

    assert final["phase"] == "Succeeded", explain(final, operator)
    assert final["lastCommand"]["command"] == "resume"
    assert transitions(final) == [
        *transitions(before),
        ("PausedUnavailable", "2/3"),
        ("Resumed", "2/3"),
        ("StagePassed", "3/3"),
        ("WeightSet", "3/3"),
        ("Promoted", "3/3"),
    ], explain(final, operator)
    wait.until(
        lambda: cluster.deployments() == _promoted(models.good.version),
        what="promoted Deployments",
    )
