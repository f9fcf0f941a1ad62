"""A release scenario's pieces: the ModelRelease object, and an observer of the cluster
that timestamps what the operator did, for the decision latency.

Decision latency is measured from a stage's *wait end* to the moment the new weights
are visible in the API server. A stage's wait is its duration counted from its judgement
window's start (`status.window.startedAt`, set at the first metrics read after the
stage's weight was applied; decide.py counts the duration from there); the status keeps
times to the second, so a figure can read up to 1 s high. The moment the new weights
are visible is when the observer, polling every 0.25 s, first reads them from the
Deployments (an upper bound, by at most one poll).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import kubernetes
from modelrelease_operator.api import GROUP, VERSION
from modelrelease_operator.release.durations import parse_duration
from modelrelease_operator.release.routing import effective_weight

from tests.realmetrics.prometheus import Prometheus
from tests.realmetrics.routing import ClusterRouting, Weights
from tests.realmetrics.serving import Artifact

PLURAL = "modelreleases"


def manifest(
    name: str,
    model: str,
    *,
    stable: Artifact,
    candidate: Artifact,
    uri: dict[str, str],
    prometheus: Prometheus,
    stages: list[dict[str, Any]],
    replicas: int,
    router: str = "replicas",
    interval: str = "2s",
) -> dict[str, Any]:
    """A ModelRelease naming both models by artifact URI and digest, judged from the real
    Prometheus. Gates: errors, absolute latency, drift against the training reference,
    online accuracy, drift against stable, and one custom PromQL gate."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelRelease",
        "metadata": {"name": name},
        "spec": {
            "modelName": model,
            "stable": {
                "artifactUri": uri[stable.version],
                "digest": stable.digest,
                "version": stable.version,
            },
            "candidate": {
                "artifactUri": uri[candidate.version],
                "digest": candidate.digest,
                "version": candidate.version,
            },
            "serving": {"replicas": replicas},
            "router": _router(router),
            "stages": stages,
            # The offline comparison is not what these scenarios test; the online gates are.
            "riskCheck": {"metrics": [{"metric": "roc_auc", "maxDegradation": 1.0}]},
            "readinessDeadline": "2m",
            "analysis": {
                "interval": interval,
                "failureLimit": 1,
                "inconclusive": "Wait",
                "provider": {
                    "type": "prometheus",
                    "prometheus": {"address": prometheus.url, "timeoutSeconds": 5},
                },
                "gates": {
                    "errorRate": {"max": 0.01},
                    # Generous: two busy shared cores answer in milliseconds, but not always.
                    "latency": {"maxSeconds": 1.0, "quantile": 0.9},
                    # Trained on the real population: PSI about 0.03 against its reference;
                    # trained on the shifted one: about 1.1.
                    # PSI over 21 buckets reads about 20/n from sampling alone, and a
                    # gate is judged at every interval once it has its minimum: with
                    # fewer than a few hundred predictions a good model can read 0.25.
                    "drift": {"maxPsi": 0.25, "minPredictions": 300},
                    "accuracy": {"min": 0.7, "minFeedback": 40},
                    "relative": {
                        # The same sampling noise from both versions, and the two models
                        # score the same rows a little differently: at 80-100 predictions
                        # a good candidate read PSI 0.58-0.65 about half the time once
                        # the operator judged a stage as soon as its minimum was met.
                        "drift": {"maxPsi": 0.5, "alpha": 0.01, "minPredictions": 200},
                    },
                    "custom": [
                        {
                            "name": "candidate-p90-seconds",
                            "query": "histogram_quantile(0.9, sum by (le) (rate("
                            'modelrelease_request_duration_seconds_bucket{namespace="{{namespace}}",'
                            'release="{{release}}",model="{{model}}",version="{{candidate}}",'
                            'endpoint="predict"}[{{window}}])))',
                            "max": 1.0,
                        }
                    ],
                },
            },
        },
    }


def _router(kind: str) -> dict[str, Any]:
    if kind == "gateway-api":
        # No Gateway exists: only the route's weights matter to the emulated data plane.
        return {"type": kind, "gatewayApi": {"parentRefs": [{"name": "public"}]}}
    return {"type": kind}


def parse_time(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


@dataclass
class Sample:
    at: float  # wall time of the read
    weights: Weights
    status: dict[str, Any]


@dataclass
class Decision:
    what: str
    wait_end: float
    applied: float

    @property
    def latency(self) -> float:
        return self.applied - self.wait_end


@dataclass
class Observer:
    """Polls the release's status and the weights its Deployments give, in a thread."""

    api: kubernetes.client.ApiClient
    namespace: str
    name: str
    router: str = "replicas"
    period: float = 0.25
    samples: list[Sample] = field(default_factory=list)
    errors: int = 0

    def __post_init__(self) -> None:
        self.routing = ClusterRouting(self.api, self.namespace, self.name)
        self.custom = kubernetes.client.CustomObjectsApi(self.api)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="observer", daemon=True)

    def status(self) -> dict[str, Any]:
        found = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, self.name
        )
        status: dict[str, Any] = found.get("status") or {}
        return status

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                weights = self.routing.weights(self.router)
                status = self.status()
            except kubernetes.client.ApiException:
                self.errors += 1
            else:
                self.samples.append(Sample(time.time(), weights, status))
            self._stop.wait(self.period)

    def __enter__(self) -> Observer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    @property
    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def first_seen(self, after: float, check: Any) -> float | None:
        """Wall time of the first sample after `after` for which check(sample) holds."""
        for sample in self.samples:
            if sample.at >= after and check(sample):
                return sample.at
        return None

    def stage_windows(self) -> list[tuple[int, float]]:
        """(stage index, window start) of every judgement window seen, in order."""
        found: list[tuple[int, float]] = []
        for sample in self.samples:
            window = sample.status.get("window") or {}
            started = window.get("startedAt")
            index = sample.status.get("stageIndex", -1)
            if started and (not found or found[-1] != (index, parse_time(started))):
                found.append((index, parse_time(started)))
        return found


def decisions(
    observer: Observer, spec: dict[str, Any], *, candidate: str, stable: str
) -> list[Decision]:
    """Each stage's end decision: advancing (new weights visible) or promoting (phase
    Succeeded visible; the weights were already all on the candidate)."""
    stages = spec["stages"]
    replicas = spec["serving"]["replicas"]
    exact = spec["router"]["type"] == "gateway-api"  # route weights; else replica shares
    out: list[Decision] = []
    windows = observer.stage_windows()
    for position, (index, started) in enumerate(windows):
        if position + 1 < len(windows) and windows[position + 1][0] == index:
            continue  # a window re-opened within one stage (e.g. after a restart)
        wait_end = started + parse_duration(stages[index]["duration"]).total_seconds()
        if index + 1 < len(stages):
            weight = stages[index + 1]["weight"]
            share = (weight if exact else effective_weight(replicas, weight)) / 100

            def reached(sample: Sample, share: float = share) -> bool:
                return abs(sample.weights.get(candidate, 0.0) - share) < 0.01

            applied = observer.first_seen(wait_end, reached)
            what = f"stage {index + 1}/{len(stages)} → {stages[index + 1]['weight']}%"
        else:
            applied = observer.first_seen(wait_end, lambda s: s.status.get("phase") == "Succeeded")
            what = f"stage {index + 1}/{len(stages)} → promoted"
        if applied is not None:
            out.append(Decision(what, wait_end, applied))
    return out
