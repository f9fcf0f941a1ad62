"""The closed loop end to end: a stable in production drifts, the release says Degraded,
retrains itself on the new data, and rolls the retrained model out through its stages.

Real: the control plane, the operator, a serving process per model version scraped by a
real Prometheus, traffic from the load generator, and the models (trained by the real
trainer). The retraining's ModelTraining is created by the operator; its Job's pod runs
on kwok, which ends it with the termination message the real trainer left when it
trained the same template on the shifted population (tests/realmetrics/artifacts.py's
`v3-shifted`), so that the model the operator then rolls out is a real one that serves.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import kubernetes
import pytest
from modelrelease_operator.api import GROUP, VERSION

from tests.integration import trainings
from tests.integration.gitops import Kubectl
from tests.integration.running_operator import OperatorProcess
from tests.integration.trainings import DELAY, MESSAGE, OUTCOME, cpu_training
from tests.integration.waiting import Waiter
from tests.realmetrics import artifacts
from tests.realmetrics.fixtures import ServingFactory
from tests.realmetrics.prometheus import Prometheus
from tests.realmetrics.routing import ClusterRouting
from tests.realmetrics.traffic import LoadGenerator, loan_records

from .conftest import note

RELEASE = "loan-loop"
MODEL = "loan-default-loop"
FOLLOW = {"app.kubernetes.io/part-of": RELEASE}
RATE = 30.0  # requests per second, four records each
SCENARIO_SECONDS = 300.0
SHIFT = 1.5  # the population of artifacts.BAD's training data
MONITORING_PSI = 0.15


def _retrained_summary(models: artifacts.Models, store: artifacts.ArtifactStore) -> str:
    """What the real trainer left when it trained on the shifted population, with the
    artifact's address in the store the serving processes read from."""
    log = models.bad.path.parent / "termination-log"
    summary: dict[str, Any] = json.loads(log.read_text())
    summary["artifactUri"] = store.uri(models.bad)
    return json.dumps(summary, separators=(",", ":"))


def _release(
    namespace: str, models: artifacts.Models, store: artifacts.ArtifactStore, prom: Prometheus
) -> dict[str, Any]:
    template = cpu_training("template")["spec"]
    # New data each time: the shifted population, a new sample per retraining.
    template["dataset"]["uri"] = (
        f"builtin:loan-default?rows=6000&seed={{{{sequence}}}}&shift={SHIFT}"
    )
    template["qualityGate"] = {"thresholds": [{"metric": "roc_auc", "min": 0.7}]}
    template["podAnnotations"] = {
        OUTCOME: "succeed",
        MESSAGE: _retrained_summary(models, store),
        DELAY: "3s",
    }
    stable_metrics = json.loads((models.stable.path / "metrics.json").read_text())
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelRelease",
        "metadata": {"name": RELEASE, "namespace": namespace},
        "spec": {
            "modelName": MODEL,
            "stable": {
                "artifactUri": store.uri(models.stable),
                "digest": models.stable.digest,
                "version": models.stable.version,
                "metrics": {k: v for k, v in stable_metrics.items() if isinstance(v, float)},
            },
            "candidate": {"fromTrainings": {"matchLabels": FOLLOW}},
            "serving": {"replicas": 4},
            "stages": [
                {"weight": 25, "duration": "10s", "minRequests": 30},
                {"weight": 50, "duration": "10s", "minRequests": 30},
                {"weight": 100, "duration": "8s", "minRequests": 30},
            ],
            "riskCheck": {"metrics": [{"metric": "roc_auc", "maxDegradation": 1.0}]},
            "readinessDeadline": "2m",
            "analysis": {
                "interval": "2s",
                "provider": {
                    "type": "prometheus",
                    "prometheus": {"address": prom.url, "timeoutSeconds": 5},
                },
                "gates": {
                    "errorRate": {"max": 0.01},
                    "drift": {"maxPsi": 0.25, "minPredictions": 300},
                },
            },
            "monitoring": {
                "interval": "2s",
                "window": "10s",
                "failureLimit": 2,
                "minRequests": 20,
                "gates": {
                    "errorRate": {"max": 0.01},
                    # v1 reads about 0.03 on its own population and about 0.3 on the
                    # shifted one (1200 predictions a window: sampling noise about 0.02).
                    "drift": {"maxPsi": MONITORING_PSI, "minPredictions": 300},
                },
            },
            "retraining": {
                "template": {"labels": FOLLOW, "spec": template},
                "triggers": {"onDegraded": True},
                "backoff": "10m",
            },
        },
    }


class Story:
    """`kubectl get mr` and `kubectl get mt` at each step, as a user would watch it."""

    def __init__(self, kubectl: Kubectl, namespace: str) -> None:
        self.kubectl = kubectl
        self.namespace = namespace
        self.chapters: list[tuple[str, str, str]] = []

    def tell(self, step: str) -> tuple[str, str]:
        releases = self.kubectl("get", "mr", "-n", self.namespace)
        trainings = self.kubectl("get", "mt", "-n", self.namespace)
        self.chapters.append((step, releases, trainings))
        return releases, trainings

    def text(self) -> str:
        return "\n".join(f"--- {step}\n{mr}{mt}" for step, mr, mt in self.chapters)


def _row(table: str, name: str) -> dict[str, str]:
    """One row of `kubectl get` output as column → value, cut where the header's columns
    begin (a cell may be empty)."""
    lines = table.rstrip().splitlines()
    header = lines[0]
    starts = [i for i, c in enumerate(header) if c != " " and (i == 0 or header[i - 1] == " ")]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    for line in lines[1:]:
        cells = {header[a:b].strip(): line[a:b].strip() for a, b in bounds}
        if cells.get("NAME") == name:
            return cells
    raise AssertionError(f"no row {name} in:\n{table}")


@pytest.mark.timeout(900)
def test_a_drifting_stable_is_retrained_and_the_new_model_rolled_out(
    kube_api: kubernetes.client.ApiClient,
    control_plane: Any,
    operator: OperatorProcess,
    namespace: str,
    wait: Waiter,
    prometheus: Prometheus,
    models: artifacts.Models,
    artifact_store: artifacts.ArtifactStore,
    serving: ServingFactory,
    request: pytest.FixtureRequest,
) -> None:
    store = artifact_store
    trainings.artifact_store(kube_api, namespace)  # the Secret the training Job reads
    retrain = f"{RELEASE}-retrain-1"
    # The retrained model serves under its training's name, the version a training gets.
    retrained = dataclasses.replace(models.bad, version=retrain)
    servers = serving(MODEL, [models.stable, retrained], release=RELEASE)
    custom = kubernetes.client.CustomObjectsApi(kube_api)
    story = Story(Kubectl(control_plane), namespace)

    def status() -> dict[str, Any]:
        found = custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "modelreleases", RELEASE
        )
        return dict(found.get("status") or {})

    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "modelreleases", _release(namespace, models, store, prometheus)
    )
    cluster = ClusterRouting(kube_api, namespace, RELEASE)
    load = LoadGenerator(
        {v: p.url for v, p in servers.items()},
        lambda: cluster.weights("replicas"),
        rate=RATE,
        max_seconds=SCENARIO_SECONDS,
        max_requests=int(RATE * SCENARIO_SECONDS),
        records_per_request=4,
        feedback_share=0.0,
    ).start()
    try:
        # 1. v1 serves all traffic and monitoring finds it healthy.
        wait.until(
            lambda: (s := status()).get("phase") == "Succeeded" and s.get("health") == "Healthy",
            what="v1 serving, Healthy",
            timeout=120,
        )
        mr, _ = story.tell("v1 in production, healthy")
        row = _row(mr, RELEASE)
        assert row["PHASE"] == "Succeeded" and row["STABLE"] == "v1" and row["HEALTH"] == "Healthy"

        # 2. The population shifts: Degraded, with the drift value, within a few intervals.
        shifted_at = time.monotonic()
        load.records = loan_records(4000, 4321, shift=SHIFT)
        degraded = wait.until(
            lambda: (s := status()).get("health") == "Degraded" and s,
            what="monitoring to find v1 Degraded",
            timeout=90,
        )
        took = time.monotonic() - shifted_at
        condition = next(c for c in degraded["conditions"] if c["type"] == "Degraded")
        assert condition["status"] == "True" and condition["message"].startswith("drift: ")
        gate = degraded["monitoring"]["failedGate"]
        assert gate["name"] == "drift" and gate["value"] > MONITORING_PSI
        assert gate["threshold"] == MONITORING_PSI
        note(
            request.config,
            f"closed loop: Degraded {took:.1f} s after the shift (PSI {gate['value']:.2f})",
        )

        # 3. A retraining on the new data, created by the operator, named after the release.
        wait.until(
            lambda: (status().get("retraining") or {}).get("sequence") == 1,
            what="a retraining to be created",
            timeout=60,
        )
        training = wait.until(
            lambda: kube_get(custom, namespace, retrain),
            what=f"ModelTraining {retrain}",
            timeout=60,
        )
        assert training["spec"]["dataset"]["uri"] == (
            f"builtin:loan-default?rows=6000&seed=1&shift={SHIFT}"
        )
        assert training["spec"]["modelName"] == MODEL
        assert training["metadata"]["labels"]["modelrelease.dev/retraining-of"] == RELEASE
        assert training["metadata"]["ownerReferences"][0]["name"] == RELEASE
        mr, mt = story.tell("Degraded: retraining")
        assert _row(mr, RELEASE)["HEALTH"] == "Degraded"
        assert retrain in mt

        # 4. Trained, chosen by fromTrainings, rolled out through the stages.
        rolling = wait.until(
            lambda: (s := status()).get("phase") == "Progressing" and s,
            what="the retrained model's rollout",
            timeout=120,
        )
        assert rolling["candidate"]["training"] == retrain
        assert rolling["candidateSelection"]["chosen"] == retrain
        mr, mt = story.tell("retrained model rolling out")
        assert _row(mt, retrain)["PHASE"] == "Succeeded"
        assert _row(mr, RELEASE)["CANDIDATE"] == retrain

        # 5. Succeeded: the retrained model is the stable, and monitoring finds it healthy.
        def promoted_or_ended() -> dict[str, Any] | None:
            s = status()
            if s.get("phase") in {"RolledBack", "Failed"}:
                return s
            promoted = (s.get("stable") or {}).get("training") == retrain
            return s if s.get("phase") == "Succeeded" and promoted else None

        done = wait.until(promoted_or_ended, what="the retrained model to be promoted", timeout=180)
        assert done["phase"] == "Succeeded", done.get("message")
        healthy = wait.until(
            lambda: (s := status()).get("health") == "Healthy" and s,
            what="the new stable to be Healthy",
            timeout=60,
        )
        assert healthy["stableVersion"] == retrain
        mr, _ = story.tell("retrained model in production, healthy")
        row = _row(mr, RELEASE)
        assert row["PHASE"] == "Succeeded" and row["STABLE"] == retrain
        assert row["HEALTH"] == "Healthy"

        reasons = [
            e.reason
            for e in kubernetes.client.CoreV1Api(kube_api)
            .list_namespaced_event(namespace, field_selector=f"involvedObject.name={RELEASE}")
            .items
        ]
        for expected in (
            "Degraded",
            "RetrainingStarted",
            "RetrainingSucceeded",
            "RolloutStarted",
            "Promoted",
        ):
            assert expected in reasons, reasons
        history = [h["reason"] for h in healthy["history"]]
        order = [
            history.index(r)
            for r in ("Degraded", "RetrainingStarted", "RolloutStarted", "Promoted")
        ]
        assert order == sorted(order), history
        assert healthy["retraining"]["history"][-1]["phase"] == "Succeeded"
    finally:
        load.stop()
        note(request.config, "closed loop story:\n" + story.text())
    assert load.error is None


def kube_get(
    custom: kubernetes.client.CustomObjectsApi, namespace: str, name: str
) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "modeltrainings", name
        )
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return None
        raise
    return found
