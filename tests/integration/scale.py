"""Many ModelReleases progressing at once, and what it costs: the pieces of the scale run
(`bench/scale.py`) and its smoke test (`tests/integration/test_scale_smoke.py`).

- `release_manifest`: a release that rolls out on its own on kwok pods that serve
  nothing: an artifact stable and candidate (any digest; kwok never loads them), the
  `prometheus` provider, only the default error-rate gate and stages with
  `minRequests: 0`.
- `SyntheticTraffic`: the error-rate gate cannot be turned off through the API (the
  CRD's `errorRate` is not nullable, so the API server drops `errorRate: null`, and
  the operator's default, `max: 0.01`, comes back) and is inconclusive until the
  candidate has served a request. So one HTTP exporter stands in for every release's
  serving pods: it exposes `modelrelease_requests_total` for both versions of each
  release, growing a few requests a second, all successful, with the `namespace` and
  `release` labels the PodMonitor would give them. `ScalePrometheus` is the test
  Prometheus (tests/realmetrics/prometheus.py) with one more job that scrapes it every
  second with `honor_labels`. The operator reads the real Prometheus as always.

What the run measures is in tests/integration/scale_measure.py.
"""

from __future__ import annotations

import hashlib
import http.server
import math
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import kubernetes
from modelrelease_operator.api import GROUP, VERSION
from modelrelease_operator.release.routing import replica_split

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.processes import free_port
from tests.realmetrics.prometheus import Prometheus, started

PLURAL = "modelreleases"
MODEL = "scale"
STABLE, CANDIDATE = "v1", "v2"
FLOW_SCHEMA = "modelrelease-operator-scale"
#: 65534 Service addresses, clear of kwok's pod (10.244.0.0/16) and node addresses.
SCALE_SERVICE_CIDR = "10.0.0.0/16"
TERMINAL = ("Succeeded", "RolledBack", "Failed")
#: Requests a second each version of each release "serves" (SyntheticTraffic).
REQUESTS_PER_SECOND = 5.0


# -- the releases ----------------------------------------------------------------------


def stage_weights(count: int, replicas: int) -> list[int]:
    """`count` increasing weights ending at 100 whose replica splits all differ, so that
    every step is visible in the Deployments (with 4 replicas, 10 % and 25 % are both
    1 candidate pod of 4): evenly spaced, e.g. 25/50/75/100 for 4 stages of 4 replicas."""
    if not 1 <= count <= replicas:
        raise ValueError(f"{count} stages cannot each show a new split of {replicas} replicas")
    weights = [round(100 * (i + 1) / count) for i in range(count)]
    splits = [replica_split(replicas, w) for w in weights]
    if len(set(splits)) != len(splits):
        raise ValueError(f"weights {weights} repeat a split of {replicas} replicas")
    return weights


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def release_manifest(
    name: str,
    *,
    prometheus_url: str,
    weights: list[int],
    stage_seconds: float,
    replicas: int = 4,
    interval: str = "1s",
) -> dict[str, Any]:
    """A release that starts rolling out v2 as soon as v1 is ready, and passes each stage
    when its time is up (see the module's docstring)."""

    def model(version: str, auc: float) -> dict[str, Any]:
        return {
            "artifactUri": f"s3://scale-bench/{MODEL}/{version}",
            "digest": f"sha256:{_digest(version)}",
            "version": version,
            "metrics": {"roc_auc": auc},
        }

    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelRelease",
        "metadata": {"name": name},
        "spec": {
            "modelName": MODEL,
            "stable": model(STABLE, 0.80),
            "candidate": model(CANDIDATE, 0.81),
            # kwok's pods need no room; small requests keep the nodes' capacity for count.
            "serving": {"replicas": replicas, "resources": {"cpu": "10m", "memory": "16Mi"}},
            "router": {"type": "replicas"},
            "stages": [
                {"weight": w, "duration": f"{stage_seconds:g}s", "minRequests": 0} for w in weights
            ],
            "riskCheck": {"metrics": [{"metric": "roc_auc", "maxDegradation": 1.0}]},
            "readinessDeadline": "30m",
            "analysis": {
                "interval": interval,
                "failureLimit": 1,
                "inconclusive": "Wait",
                "provider": {
                    "type": "prometheus",
                    "prometheus": {"address": prometheus_url, "timeoutSeconds": 5},
                },
                # Only the default error-rate gate (max 0.01), which SyntheticTraffic passes.
                "gates": {},
            },
        },
    }


def create_releases(
    api: kubernetes.client.ApiClient,
    names: list[tuple[str, str]],
    manifest: Callable[[str], dict[str, Any]],
    threads: int = 4,
) -> float:
    """Create (namespace, name) releases from a few threads; returns the seconds it took."""
    custom = kubernetes.client.CustomObjectsApi(api)
    started = time.monotonic()
    pending = list(names)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        while True:
            with lock:
                if not pending or errors:
                    return
                namespace, name = pending.pop(0)
            try:
                custom.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, manifest(name)
                )
            except BaseException as error:
                with lock:
                    errors.append(error)

    workers = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return time.monotonic() - started


# -- metrics without pods ----------------------------------------------------------------


class SyntheticTraffic:
    """One /metrics for every release's serving pods (see the module's docstring)."""

    def __init__(self, rate: float = REQUESTS_PER_SECOND) -> None:
        self.rate = rate
        self.port = free_port()
        self._releases: list[tuple[str, str]] = []
        self._started = time.monotonic()
        self._lock = threading.Lock()
        traffic = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = traffic.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add(self, releases: Iterable[tuple[str, str]]) -> None:
        with self._lock:
            self._releases.extend(releases)

    def exposition(self) -> str:
        count = math.floor((time.monotonic() - self._started) * self.rate)
        with self._lock:
            releases = list(self._releases)
        lines = ["# TYPE modelrelease_requests_total counter"]
        for namespace, release in releases:
            for version in (STABLE, CANDIDATE):
                lines.append(
                    f'modelrelease_requests_total{{namespace="{namespace}",release="{release}",'
                    f'model="{MODEL}",version="{version}",endpoint="predict",'
                    f'outcome="success"}} {count}'
                )
        return "\n".join(lines) + "\n"

    def __enter__(self) -> SyntheticTraffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class ScalePrometheus(Prometheus):
    """The test Prometheus plus a job scraping one target with `honor_labels` (the
    target's series carry their own `namespace` and `release`)."""

    def __init__(self, binary: Path, workdir: Path, target: str) -> None:
        super().__init__(binary, workdir)
        self.target = target

    def _config(self) -> dict[str, Any]:
        config = super()._config()
        config["scrape_configs"].append(
            {
                "job_name": "modelrelease-scale",
                "scrape_interval": "1s",
                "scrape_timeout": "900ms",
                "honor_labels": True,
                "static_configs": [{"targets": [self.target]}],
            }
        )
        return config


def scale_prometheus(workdir: Path, target: str) -> ScalePrometheus:
    """Started; raises PrometheusUnavailable where there is no binary."""
    return started(workdir, make=lambda binary, folder: ScalePrometheus(binary, folder, target))


class ScaleControlPlane(ControlPlane):
    """The tests' control plane with room for a Service per release: its Service range
    (nodeconfig.SERVICE_CIDR, a /24) holds 254 addresses, and the 255th release's
    Service would fail to apply ("range is full"). `controller_qps` raises the
    controller-manager's client rate limit (--kube-api-qps, burst 1.5 times that; its
    default is 20 per second, burst 30)."""

    def __init__(self, *args: Any, controller_qps: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.controller_qps = controller_qps

    def _run(self, name: str, argv: list[str]) -> Any:
        range_flag = "--service-cluster-ip-range="
        argv = [
            f"{range_flag}{SCALE_SERVICE_CIDR}" if arg.startswith(range_flag) else arg
            for arg in argv
        ]
        if name == "kube-controller-manager" and self.controller_qps:
            qps = self.controller_qps
            argv = [*argv, f"--kube-api-qps={qps}", f"--kube-api-burst={qps * 3 // 2}"]
        return super()._run(name, argv)
