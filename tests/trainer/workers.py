"""Run the trainer as the pods of a distributed training would: one process per rank,
each with JOB_COMPLETION_INDEX, joined over loopback through rank 0's tracker."""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

RANK_ENV = "JOB_COMPLETION_INDEX"


def start(config: dict[str, Any], folder: Path, rank: int | None) -> subprocess.Popen[str]:
    """The trainer on `config`, its output and termination log moved into `folder`."""
    folder.mkdir(parents=True)
    config = copy.deepcopy(config)
    config["output"]["path"] = str(folder / "artifact")
    config["terminationMessagePath"] = str(folder / "termination-log")
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    env = {key: value for key, value in os.environ.items() if key != RANK_ENV}
    if rank is not None:
        env[RANK_ENV] = str(rank)
    return subprocess.Popen(
        [sys.executable, "-m", "modelrelease_trainer", "--config", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "stderr").open("w"),
        text=True,
    )


def finish(folder: Path, process: subprocess.Popen[str], timeout: float = 240) -> dict[str, Any]:
    """The termination message of a trainer that must succeed."""
    code = process.wait(timeout=timeout)
    assert code == 0, (folder / "stderr").read_text()[-2000:]
    summary: dict[str, Any] = json.loads((folder / "termination-log").read_text())
    return summary


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run_workers(config: dict[str, Any], workdir: Path) -> list[dict[str, Any]]:
    """Every rank's termination message, by rank. `config` has a `distributed` section
    (as the operator renders it); its tracker moves to a free port on loopback."""
    config = copy.deepcopy(config)
    config["distributed"].update(
        trackerHost="127.0.0.1", bindHost="127.0.0.1", trackerPort=free_port()
    )
    workers = int(config["distributed"]["workers"])
    # Rank 0 last: the others must wait for its tracker, as pods that start first do.
    processes = {
        rank: start(config, workdir / f"rank-{rank}", rank) for rank in [*range(1, workers), 0]
    }
    return [finish(workdir / f"rank-{rank}", processes[rank]) for rank in range(workers)]
