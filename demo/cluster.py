"""The demo's cluster: the tests' local control plane with a real node, run in the
background (`python -m tests.controlplane --real-node`) so it outlives `make demo` for
exploring with kubectl, until `make demo-down`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes

from tests.controlplane import realnode
from tests.controlplane.containerd import ContainerdClient

HOME = Path(".cache/demo").resolve()
STATE = HOME / "cluster.json"
PID = HOME / "cluster.pid"
LOG = HOME / "cluster.log"


class Node(ContainerdClient):
    """The real node, as far as the demo needs it: its containerd, to import images."""

    def __init__(self, name: str, bin_dir: Path, socket: Path) -> None:
        super().__init__(bin_dir, socket)
        self.name = name


@dataclass(frozen=True)
class Cluster:
    """What the tests' deploy helpers use of a ControlPlane."""

    admin_kubeconfig: Path
    bin_dir: Path
    logs: Path
    real_node: Node

    def api_client(self) -> AbstractContextManager[Any]:
        client: Any = kubernetes.config.new_client_from_config(
            config_file=str(self.admin_kubeconfig)
        )
        return client  # type: ignore[no-any-return]


def running() -> bool:
    try:
        os.kill(int(PID.read_text()), 0)
    except (OSError, ValueError):
        return False
    return STATE.exists()


def start(timeout: float = 900) -> Cluster:
    """Start the cluster in the background (or reuse the one running)."""
    if not running():
        problem = realnode.missing_host_parts() or (
            None if os.geteuid() == 0 else "a real node needs root"
        )
        if problem:
            raise SystemExit(f"the demo runs on a real node, which cannot start here: {problem}")
        HOME.mkdir(parents=True, exist_ok=True)
        STATE.unlink(missing_ok=True)
        # A cluster left by a killed run: start from empty etcd, not its objects.
        shutil.rmtree(HOME / "cluster", ignore_errors=True)
        with LOG.open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.controlplane",
                    "--real-node",
                    "--workdir",
                    str(HOME / "cluster"),
                    "--state",
                    str(STATE),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        PID.write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while not STATE.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the local cluster did not start; see {LOG}")
            time.sleep(0.5)
    return load()


def load() -> Cluster:
    state = json.loads(STATE.read_text())
    bin_dir = Path(state["bin_dir"])
    node = Node(state["real_node"], bin_dir, Path(state["containerd"]))
    return Cluster(Path(state["kubeconfig"]), bin_dir, Path(state["logs"]), node)


def stop() -> None:
    """Stop the background cluster (its own teardown removes the node's traces)."""
    if not PID.exists():
        print("no demo cluster is running")
        return
    pid = int(PID.read_text())
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
    PID.unlink(missing_ok=True)
    STATE.unlink(missing_ok=True)
    print("demo cluster stopped")
