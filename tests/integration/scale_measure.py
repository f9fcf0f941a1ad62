"""What a scale run measures (`bench/scale.py`, tests/integration/test_scale_smoke.py):
the decision latency of every stage end from two cluster-wide watches, and what the run
costs (the operator's CPU and memory, the API server's requests). How the releases are
made and pass is tests/integration/scale.py.

- `ClusterWatch`: one watch of all ModelReleases and one of all release Deployments
  (raw streams, timestamped on arrival), kept per release as the `Sample`s that
  tests/e2e_local/scenario.py's `decisions` reads: each stage's end is
  `status.window.startedAt` + the stage's duration, and "weights applied" is when the
  Deployments first show the next stage's replica split (tests/realmetrics/routing.py),
  or, after the last stage, when the phase Succeeded is visible. A watch sees each
  change when the API server sends it, where the e2e observer polled every 0.25 s.
- `ProcessMeter`: CPU (utime + stime from /proc/PID/stat) and peak RSS (VmHWM).
- `ApiServerCounters`: the API server's own counters: requests by the operator (the
  FlowSchema `operator_flow_schema` creates matches its ServiceAccount only, so
  `apiserver_flowcontrol_dispatched_requests_total{flow_schema=...}` counts exactly its
  requests) and `apiserver_request_total` by verb and resource (every client).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes
import urllib3
from modelrelease_operator.api import GROUP, VERSION
from modelrelease_operator.labels import RELEASE_LABEL
from modelrelease_operator.release.durations import parse_duration
from modelrelease_operator.release.routing import replica_split
from modelrelease_operator.release.sources import deployment_ready

from tests.e2e_local.scenario import Decision, Observer, Sample, decisions, parse_time
from tests.realmetrics.routing import deployment_version, replica_weights

from .running_operator import NAMESPACE as OPERATOR_NAMESPACE
from .running_operator import SERVICE_ACCOUNT as OPERATOR_ACCOUNT
from .scale import CANDIDATE, FLOW_SCHEMA, PLURAL, STABLE

# -- what the cluster shows --------------------------------------------------------------


class Track:
    """One release as the watches saw it: `Sample`s (time of arrival, the Deployments'
    weights, the status fields `decisions` reads), one each time those changed. It has
    the two methods of scenario.Observer that `decisions` calls."""

    stage_windows = Observer.stage_windows
    first_seen = Observer.first_seen

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.deployments: dict[str, dict[str, Any]] = {}
        self.status: dict[str, Any] = {}
        self.weights: dict[str, float] = {}
        #: Wall time each phase was first seen.
        self.phases: dict[str, float] = {}
        #: Every distinct status.lastCheckAt (seconds since the epoch).
        self.checks: list[float] = []
        self.stable_version: str | None = None
        #: (time, pods) each time the candidate's Deployment became ready (as the operator
        #: judges it: sources.deployment_ready) for a new number of pods.
        self.candidate_ready: list[tuple[float, int]] = []
        #: (time, pods) each time the candidate's Deployment was given a new spec.replicas.
        self.candidate_scaled: list[tuple[float, int]] = []

    def _sample(self, at: float) -> None:
        last = self.samples[-1] if self.samples else None
        if last is None or last.weights != self.weights or last.status != self.status:
            self.samples.append(Sample(at, self.weights, self.status))

    def on_status(self, at: float, status: dict[str, Any]) -> None:
        window = status.get("window") or {}
        phase = status.get("phase")
        self.status = {
            "phase": phase,
            "stageIndex": status.get("stageIndex", -1),
            "window": {"startedAt": window["startedAt"]} if window.get("startedAt") else {},
        }
        self.stable_version = status.get("stableVersion")
        if phase and phase not in self.phases:
            self.phases[phase] = at
        checked = status.get("lastCheckAt")
        if checked and (not self.checks or self.checks[-1] != parse_time(checked)):
            self.checks.append(parse_time(checked))
        self._sample(at)

    def on_deployment(self, at: float, kind: str, deployment: dict[str, Any]) -> None:
        name = deployment["metadata"]["name"]
        if kind == "DELETED":
            self.deployments.pop(name, None)
        else:
            # Just what replica_weights reads: the version and spec.replicas.
            version = deployment_version(deployment)
            if version == CANDIDATE:
                pods = int((deployment.get("spec") or {}).get("replicas") or 0)
                if not self.candidate_scaled or self.candidate_scaled[-1][1] != pods:
                    self.candidate_scaled.append((at, pods))
                last = self.candidate_ready[-1][1] if self.candidate_ready else None
                if pods != last and deployment_ready(deployment, pods):
                    self.candidate_ready.append((at, pods))
            self.deployments[name] = {
                "metadata": {"labels": {"modelrelease.dev/version": version}},
                "spec": {"replicas": (deployment.get("spec") or {}).get("replicas") or 0},
            }
        self.weights = replica_weights(self.deployments.values())
        self._sample(at)

    @property
    def done(self) -> bool:
        phase = self.status.get("phase")
        if phase == "Succeeded":
            return self.stable_version == CANDIDATE
        return phase in ("RolledBack", "Failed")


class _Stream(threading.Thread):
    """A watch of one cluster-wide collection, restarted where it left off."""

    def __init__(
        self,
        api: kubernetes.client.ApiClient,
        path: str,
        handle: Callable[[float, str, dict[str, Any]], None],
        query: dict[str, str] | None = None,
    ) -> None:
        super().__init__(name=f"watch {path}", daemon=True)
        self.api = api
        self.path = path
        self.handle = handle
        self.query = dict(query or {})
        self.stopping = threading.Event()
        self.events = 0
        self.restarts = 0
        self.failure: BaseException | None = None
        self.ready = threading.Event()

    def _get(self, query: dict[str, str], *, stream: bool) -> Any:
        url = f"{self.api.configuration.host}{self.path}?{urllib.parse.urlencode(query)}"
        pool = self.api.rest_client.pool_manager
        return pool.request(
            "GET",
            url,
            headers={"Accept": "application/json"},
            preload_content=not stream,
            timeout=urllib3.Timeout(connect=10, read=120 if stream else 60),
            retries=False,
        )

    def run(self) -> None:
        try:
            listed = self._get({**self.query, "limit": "1"}, stream=False)
            version = json.loads(listed.data)["metadata"]["resourceVersion"]
            self.ready.set()
            while not self.stopping.is_set():
                query = {
                    **self.query,
                    "watch": "1",
                    "allowWatchBookmarks": "true",
                    "timeoutSeconds": "60",
                    "resourceVersion": version,
                }
                answer = self._get(query, stream=True)
                try:
                    for line in answer:
                        at = time.time()
                        if self.stopping.is_set():
                            return
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        kind, obj = event["type"], event["object"]
                        if kind == "ERROR":
                            raise RuntimeError(f"watch {self.path}: {obj}")
                        version = obj["metadata"]["resourceVersion"]
                        if kind != "BOOKMARK":
                            self.events += 1
                            self.handle(at, kind, obj)
                finally:
                    answer.release_conn()
                self.restarts += 1
        except BaseException as error:
            self.failure = error
            self.ready.set()


class ClusterWatch:
    """Tracks of every ModelRelease and its Deployments, from two watches."""

    def __init__(self, api: kubernetes.client.ApiClient) -> None:
        self.tracks: dict[tuple[str, str], Track] = {}
        self._lock = threading.Lock()
        self._streams = [
            _Stream(api, f"/apis/{GROUP}/{VERSION}/{PLURAL}", self._release),
            _Stream(
                api, "/apis/apps/v1/deployments", self._deployment, {"labelSelector": RELEASE_LABEL}
            ),
        ]

    def track(self, namespace: str, name: str) -> Track:
        key = (namespace, name)
        if key not in self.tracks:
            self.tracks[key] = Track()
        return self.tracks[key]

    def _release(self, at: float, kind: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        with self._lock:
            self.track(meta["namespace"], meta["name"]).on_status(at, obj.get("status") or {})

    def _deployment(self, at: float, kind: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        release = (meta.get("labels") or {}).get(RELEASE_LABEL)
        if release:
            with self._lock:
                self.track(meta["namespace"], release).on_deployment(at, kind, obj)

    def check(self) -> None:
        for stream in self._streams:
            if stream.failure is not None:
                raise RuntimeError(f"{stream.name} failed: {stream.failure!r}")

    def __enter__(self) -> ClusterWatch:
        for stream in self._streams:
            stream.start()
        for stream in self._streams:
            stream.ready.wait(60)
        self.check()
        return self

    def __exit__(self, *_: object) -> None:
        for stream in self._streams:
            stream.stopping.set()

    @property
    def events(self) -> int:
        return sum(s.events for s in self._streams)

    def phases(self, keys: Iterable[tuple[str, str]]) -> Counter[str]:
        with self._lock:
            return Counter(
                (self.tracks[k].status.get("phase") or "none") if k in self.tracks else "none"
                for k in keys
            )

    def done(self, keys: Iterable[tuple[str, str]]) -> int:
        with self._lock:
            return sum(1 for k in keys if k in self.tracks and self.tracks[k].done)


@dataclass
class StageEnd:
    """One stage's end: when the operator's status showed the step (`decided`) and when
    the Deployments showed the next split (`applied`); None when never seen."""

    release: tuple[str, str]
    what: str
    wait_end: float
    decided: float | None
    applied: float | None
    #: When the candidate's Deployment was given, then ready with, the next stage's pods
    #: (advances only).
    scaled: float | None = None
    ready: float | None = None

    @property
    def latency(self) -> float | None:
        return None if self.applied is None else self.applied - self.wait_end

    @property
    def decide_seconds(self) -> float | None:
        return None if self.decided is None else self.decided - self.wait_end


def stage_ends(track: Track, release: tuple[str, str], spec: dict[str, Any]) -> list[StageEnd]:
    """Every stage end of one release, with scenario.decisions' latency, and when the
    status first showed the next stage (or Succeeded)."""
    found: list[Decision] = decisions(track, spec, candidate=CANDIDATE, stable=STABLE)  # type: ignore[arg-type]
    windows = track.stage_windows()
    ends: list[StageEnd] = []
    for decision in found:
        index = int(decision.what.split()[1].split("/")[0]) - 1

        def stepped(sample: Sample, index: int = index) -> bool:
            status = sample.status
            return status.get("stageIndex", -1) > index or status.get("phase") == "Succeeded"

        decided = track.first_seen(decision.wait_end, stepped)
        scaled = ready = None
        if index + 1 < len(spec["stages"]) and decided is not None:
            weight = spec["stages"][index + 1]["weight"]
            pods = replica_split(spec["serving"]["replicas"], weight)[1]
            scaled = next(
                (t for t, n in track.candidate_scaled if t >= decided - 1 and n == pods), None
            )
            ready = next(
                (t for t, n in track.candidate_ready if t >= decided - 1 and n == pods), None
            )
        ends.append(
            StageEnd(
                release, decision.what, decision.wait_end, decided, decision.applied, scaled, ready
            )
        )
    seen = {int(d.what.split()[1].split("/")[0]) - 1 for d in found}
    for index, started in windows:
        if index not in seen:  # a stage whose end was never followed by the next weights
            duration = parse_duration(spec["stages"][index]["duration"]).total_seconds()
            ends.append(StageEnd(release, f"stage {index + 1}", started + duration, None, None))
            seen.add(index)
    return ends


# -- what it costs -----------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class ProcessMeter:
    """CPU seconds and peak RSS of one process, from /proc."""

    pid: int
    samples: list[tuple[float, float]] = field(default_factory=list)  # (monotonic, cpu s)
    rss: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, VmRSS bytes)

    def cpu_seconds(self) -> float:
        text = Path(f"/proc/{self.pid}/stat").read_text()
        fields = text[text.rindex(")") + 2 :].split()
        # utime and stime are fields 14 and 15 of stat(5); fields[0] is field 3.
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def _status(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
        return 0

    def peak_rss_bytes(self) -> int:
        return self._status("VmHWM")

    def sample(self, rss: bool = False) -> None:
        with contextlib.suppress(OSError):
            now = time.monotonic()
            self.samples.append((now, self.cpu_seconds()))
            if rss:
                self.rss.append((now, self._status("VmRSS")))

    def cores(self, since: int = 0) -> float:
        """Mean cores used from sample `since` to the last."""
        (t0, c0), (t1, c1) = self.samples[since], self.samples[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0

    def peak_cores(self, span: float = 10.0) -> float:
        """Highest mean over any `span` seconds between samples."""
        best, start = 0.0, 0
        for end in range(len(self.samples)):
            while self.samples[end][0] - self.samples[start][0] > span:
                start += 1
            (t0, c0), (t1, c1) = self.samples[start], self.samples[end]
            if t1 - t0 >= span * 0.8:
                best = max(best, (c1 - c0) / (t1 - t0))
        return best


def machine_busy_seconds() -> float:
    """CPU seconds all cores of this machine spent busy since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


#: Per FlowSchema: seconds requests ran in the API server, and waited in its queues.
_TIMINGS = (
    "apiserver_flowcontrol_request_execution_seconds_sum{",
    "apiserver_flowcontrol_request_execution_seconds_count{",
    "apiserver_flowcontrol_request_wait_duration_seconds_sum{",
    "apiserver_flowcontrol_request_wait_duration_seconds_count{",
)
_LABELS = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class ApiServerCounters:
    """Counters read from the API server's /metrics (as the admin)."""

    def __init__(self, api: kubernetes.client.ApiClient) -> None:
        self.api = api

    def read(self) -> dict[str, Counter[tuple[str, ...]]]:
        pool = self.api.rest_client.pool_manager
        answer = pool.request(
            "GET", f"{self.api.configuration.host}/metrics", timeout=60, retries=False
        )
        flows: Counter[tuple[str, ...]] = Counter()
        requests: Counter[tuple[str, ...]] = Counter()
        timing: Counter[tuple[str, ...]] = Counter()
        for line in answer.data.decode().splitlines():
            if line.startswith("apiserver_flowcontrol_dispatched_requests_total{"):
                labels = dict(_LABELS.findall(line[: line.rindex("}")]))
                flows[(labels.get("flow_schema", ""),)] += float(line.rsplit(" ", 1)[1])
            elif line.startswith(_TIMINGS):
                name = line[: line.index("{")]
                labels = dict(_LABELS.findall(line[: line.rindex("}")]))
                timing[(name, labels.get("flow_schema", ""))] += float(line.rsplit(" ", 1)[1])
            elif line.startswith("apiserver_request_total{"):
                labels = dict(_LABELS.findall(line[: line.rindex("}")]))
                resource = labels.get("resource", "")
                if labels.get("subresource"):
                    resource += "/" + labels["subresource"]
                requests[(labels.get("verb", ""), resource)] += float(line.rsplit(" ", 1)[1])
        return {"flows": flows, "requests": requests, "timing": timing}


def operator_flow_schema(api: kubernetes.client.ApiClient) -> None:
    """A FlowSchema for the operator's ServiceAccount alone, at the priority level its
    requests get anyway (`workload-low`, as by the default `service-accounts` schema):
    nothing changes but that its requests are counted under their own name."""
    body = {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": {"name": FLOW_SCHEMA},
        "spec": {
            "matchingPrecedence": 500,
            "priorityLevelConfiguration": {"name": "workload-low"},
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [
                {
                    "subjects": [
                        {
                            "kind": "ServiceAccount",
                            "serviceAccount": {
                                "name": OPERATOR_ACCOUNT,
                                "namespace": OPERATOR_NAMESPACE,
                            },
                        }
                    ],
                    "resourceRules": [
                        {
                            "verbs": ["*"],
                            "apiGroups": ["*"],
                            "resources": ["*"],
                            "clusterScope": True,
                            "namespaces": ["*"],
                        }
                    ],
                    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                }
            ],
        },
    }
    flowcontrol = kubernetes.client.FlowcontrolApiserverV1Api(api)
    try:
        flowcontrol.create_flow_schema(body)
    except kubernetes.client.ApiException as error:
        if error.status != 409:
            raise


def operator_metric_sums(port: int) -> dict[str, float]:
    """The operator's own /metrics: reconcile count and seconds, reconcile errors."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    sums: Counter[str] = Counter()
    for line in text.splitlines():
        for name in (
            "modelrelease_operator_reconcile_seconds_count",
            "modelrelease_operator_reconcile_seconds_sum",
            "modelrelease_operator_reconcile_errors_total",
        ):
            if line.startswith(name + " ") or line.startswith(name + "{"):
                sums[name] += float(line.rsplit(" ", 1)[1])
    return dict(sums)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank; nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
