"""A real Prometheus server as a test process: loopback port, own storage, 1 s scrapes.

Targets come from a file_sd file that the test rewrites, so serving processes can come
and go without restarting Prometheus (it re-reads the file within a second or so).
Serving targets carry the Kubernetes metadata a pod would (`__meta_kubernetes_namespace`,
`__meta_kubernetes_pod_label_modelrelease_dev_release`, ...), and the scrape relabels it
as prometheus-operator does for `manifests/observability/podmonitor.yaml`: the series
get the `namespace` and `release` target labels the operator's queries select on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tests.controlplane.processes import Process, free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
PODMONITOR = REPO / "manifests" / "observability" / "podmonitor.yaml"

#: Where Debian's package puts it; PATH is searched first.
DEBIAN_BINARY = Path("/usr/bin/prometheus")
SCRAPE_INTERVAL = "1s"
JOB = "modelrelease-serving"


def podmonitor_relabelings(podmonitor: Path = PODMONITOR) -> list[dict[str, Any]]:
    """The relabel_configs prometheus-operator makes of the PodMonitor: the target labels
    it always adds (`namespace`, `pod`), then the endpoint's own `relabelings`."""
    document = yaml.safe_load(podmonitor.read_text())
    (endpoint,) = document["spec"]["podMetricsEndpoints"]
    rules: list[dict[str, Any]] = [
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
    ]
    for rule in endpoint.get("relabelings", []):
        # sourceLabels → source_labels, targetLabel → target_label, ...
        rules.append({re.sub(r"([A-Z])", r"_\1", k).lower(): v for k, v in rule.items()})
    return rules


def pod_meta(namespace: str, pod: str, pod_labels: dict[str, str]) -> dict[str, str]:
    """The discovery labels Kubernetes service discovery gives a pod target."""
    return {
        "__meta_kubernetes_namespace": namespace,
        "__meta_kubernetes_pod_name": pod,
        **{
            "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", k): v
            for k, v in pod_labels.items()
        },
    }


class PrometheusUnavailable(Exception):
    """The binary is missing and cannot be installed here; the message says why."""


def find_binary(*, install: bool = True) -> Path:
    """The `prometheus` binary; installs Debian's package when missing and running as root
    with apt-get (CI images), otherwise raises PrometheusUnavailable."""
    found = shutil.which("prometheus") or (str(DEBIAN_BINARY) if DEBIAN_BINARY.exists() else None)
    if found:
        return Path(found)
    apt = shutil.which("apt-get")
    if not install or apt is None or os.geteuid() != 0:
        raise PrometheusUnavailable(
            "no prometheus binary (install it: apt-get install -y prometheus)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Recommends would add node-exporter, which these tests do not use.
    command = [apt, "install", "-y", "-q", "--no-install-recommends", "prometheus"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        # A fresh machine has no package lists yet: fetch them once and try again.
        subprocess.run([apt, "update", "-q"], env=env, capture_output=True, timeout=600)
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise PrometheusUnavailable(
            f"apt-get install prometheus failed ({done.returncode}): {done.stderr.strip()[-300:]}"
        )
    found = shutil.which("prometheus") or (str(DEBIAN_BINARY) if DEBIAN_BINARY.exists() else None)
    if not found:
        raise PrometheusUnavailable("apt-get installed prometheus but no binary was found")
    return Path(found)


class Prometheus:
    """One Prometheus process: start(), set_targets(), query(), stop()."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = 0
        self.process: Process | None = None
        self.targets_file = workdir / "targets.json"
        self.log = workdir / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self) -> dict[str, Any]:
        return {
            "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": JOB,
                    "scrape_interval": SCRAPE_INTERVAL,
                    "scrape_timeout": "900ms",
                    "file_sd_configs": [
                        {"files": [str(self.targets_file)], "refresh_interval": "1s"}
                    ],
                    "relabel_configs": podmonitor_relabelings(),
                }
            ],
        }

    def start(self, timeout: float = 60.0) -> float:
        """Start and wait until /-/ready answers; returns the seconds it took."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.set_targets([])
        config = self.workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self._config()))
        self.port = free_port()
        argv = [
            str(self.binary),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h",
            # Debian's build looks for its console templates under /etc; none are needed.
            f"--web.console.templates={self.workdir}",
            f"--web.console.libraries={self.workdir}",
            "--log.level=warn",
        ]
        self.process = Process("prometheus", argv, self.log, cwd=self.workdir)
        return wait_until(
            lambda: self._get("/-/ready").startswith("Prometheus"),
            timeout=timeout,
            what="Prometheus /-/ready",
            watch=[self.process],
            interval=0.2,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=10.0)

    def set_targets(
        self,
        targets: dict[str, str] | list[str],
        meta: dict[str, dict[str, str]] | None = None,
    ) -> None:
        """Scrape these host:port targets (a dict maps each to its `instance_name` label);
        `meta` gives a target its discovery labels (`pod_meta`: a serving pod's).

        Written to a temporary file and renamed, so Prometheus never reads half a file."""
        names = targets if isinstance(targets, dict) else {t: t for t in targets}
        meta = meta or {}
        groups = [
            {"targets": [t], "labels": {"instance_name": n, **meta.get(t, {})}}
            for t, n in names.items()
        ]
        partial = self.targets_file.with_suffix(".tmp")
        partial.write_text(json.dumps(groups))
        partial.replace(self.targets_file)

    def _get(self, path: str, timeout: float = 5.0) -> str:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as answer:
            return str(answer.read().decode())

    def api(self, path: str, **params: str) -> dict[str, Any]:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        answer: dict[str, Any] = json.loads(self._get(f"/api/v1/{path}{query}"))
        return answer

    def query(self, expression: str) -> list[tuple[dict[str, str], float]]:
        """An instant query's vector as (labels, value) pairs."""
        answer = self.api("query", query=expression)
        if answer.get("status") != "success":
            raise RuntimeError(f"query {expression!r} failed: {answer}")
        data = answer["data"]
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(item["metric"], float(item["value"][1])) for item in data["result"]]

    def healthy_targets(self) -> set[str]:
        """host:port of every target whose last scrape succeeded."""
        active = self.api("targets", state="active")["data"]["activeTargets"]
        return {t["labels"]["instance"] for t in active if t.get("health") == "up"}

    def wait_targets_up(self, targets: list[str], timeout: float = 60.0) -> float:
        """Until every target has been scraped successfully at least once."""
        assert self.process is not None
        wanted = set(targets)
        return wait_until(
            lambda: wanted <= self.healthy_targets(),
            timeout=timeout,
            what=f"Prometheus scraping {sorted(wanted)}",
            watch=[self.process],
            interval=0.25,
        )


ServerT = TypeVar("ServerT", bound="Prometheus")


def started(
    workdir: Path,
    *,
    install: bool = True,
    make: Callable[[Path, Path], ServerT] = Prometheus,  # type: ignore[assignment]
) -> ServerT:
    """find_binary + start; the caller stops it. `make(binary, workdir)`: the server
    (a subclass with more scrape jobs)."""
    server = make(find_binary(install=install), workdir)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


def wait_for_series(server: Prometheus, expression: str, timeout: float = 30.0) -> float:
    """Until `expression` returns a non-empty vector."""
    deadline = time.monotonic() + timeout
    while not server.query(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no series for {expression!r} after {timeout:.0f}s")
        time.sleep(0.25)
    return time.monotonic() - (deadline - timeout)
