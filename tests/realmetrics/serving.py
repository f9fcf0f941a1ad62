"""Serving processes: the serving image's `modelrelease-server`, run as plain processes.

One process per model version stands in for that version's pods; Prometheus scrapes
each one's /metrics, which carry the `model` and `version` labels the operator queries,
and gives them the `namespace` and `release` of the release they stand in for, as the
PodMonitor does for pods (tests/realmetrics/prometheus.py).
"""

from __future__ import annotations

import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.controlplane.processes import Process, free_port, wait_until

from .prometheus import pod_meta


@dataclass(frozen=True)
class Artifact:
    """A trained artifact folder and what the release needs to name it."""

    path: Path
    version: str
    digest: str  # sha256:<hex> of model.ubj

    @staticmethod
    def read(path: Path, version: str) -> Artifact:
        return Artifact(path, version, "sha256:" + (path / "model.sha256").read_text().strip())


def _command() -> list[str]:
    # The console script of this interpreter's environment, as the image runs it.
    script = Path(sys.executable).with_name("modelrelease-server")
    return [str(script)] if script.exists() else [sys.executable, "-m", "modelrelease_server"]


class ServingProcess:
    """`modelrelease-server` for one artifact, on a free loopback port."""

    def __init__(
        self,
        artifact: Artifact,
        model: str,
        workdir: Path,
        *,
        namespace: str = "default",
        release: str = "loan-default",
    ) -> None:
        self.artifact = artifact
        self.model = model
        self.version = artifact.version
        self.namespace = namespace
        self.release = release
        self.port = free_port()
        self.log = workdir / f"server-{namespace}-{release}-{artifact.version}.log"
        self.process: Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def meta(self) -> dict[str, str]:
        """The discovery labels of the pod this process stands in for."""
        labels = {
            "modelrelease.dev/release": self.release,
            "modelrelease.dev/model": self.model,
            "modelrelease.dev/version": self.version,
        }
        return pod_meta(self.namespace, f"{self.release}-{self.version}-{self.port}", labels)

    def start(self, timeout: float = 90.0) -> float:
        """Start and wait until the model is loaded (/v2/health/ready); returns seconds."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELRELEASE_SERVER_")}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.update(
            {
                "MODELRELEASE_SERVER_ARTIFACT": str(self.artifact.path),
                "MODELRELEASE_SERVER_EXPECTED_DIGEST": self.artifact.digest,
                "MODELRELEASE_SERVER_MODEL_NAME": self.model,
                "MODELRELEASE_SERVER_MODEL_VERSION": self.version,
                "MODELRELEASE_SERVER_HOST": "127.0.0.1",
                "MODELRELEASE_SERVER_PORT": str(self.port),
                "MODELRELEASE_SERVER_WORKERS": "1",
                "MODELRELEASE_SERVER_GRACEFUL_TIMEOUT_SECONDS": "2",
                # One key per release, as the operator gives its pods.
                "MODELRELEASE_SERVER_FEEDBACK_KEY": f"{self.namespace}/{self.release}",
            }
        )
        self.process = Process(f"server-{self.version}", _command(), self.log, env=env)
        return wait_until(
            self.ready,
            timeout=timeout,
            what=f"modelrelease-server {self.version} ready",
            watch=[self.process],
            interval=0.2,
        )

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/v2/health/ready", timeout=2) as answer:
            return bool(answer.status == 200)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as answer:
            return str(answer.read().decode())

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=10.0)
