"""Docker and kind, driven through their command lines."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path


def run(argv: Sequence[str], *, timeout: float = 1800, cwd: Path | None = None) -> str:
    """Run a command; on failure raise with its output's tail."""
    done = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-4000:]
        raise RuntimeError(f"{' '.join(argv)} failed with {done.returncode}:\n{output}")
    return done.stdout


def missing_tools() -> str | None:
    """Why the end-to-end test cannot run here, or None when it can."""
    for tool in ("docker", "kind"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = subprocess.run(
        ["docker", "info"], capture_output=True, text=True, timeout=60, check=False
    )
    if probe.returncode != 0:
        first = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        return f"docker info failed (no working engine): {first}"
    return None


class KindCluster:
    """A throwaway kind cluster with its own kubeconfig file."""

    def __init__(self, name: str, kubeconfig: Path) -> None:
        self.name = name
        self.kubeconfig = kubeconfig

    def create(self) -> None:
        run(
            [
                "kind",
                "create",
                "cluster",
                "--name",
                self.name,
                "--kubeconfig",
                str(self.kubeconfig),
                "--wait",
                "180s",
            ]
        )

    def load(self, image: str) -> None:
        run(["kind", "load", "docker-image", image, "--name", self.name])

    def delete(self) -> None:
        run(["kind", "delete", "cluster", "--name", self.name], timeout=300)


def build_image(repo: Path, dockerfile: str, tag: str) -> None:
    """`docker build` from the repository root, as the Dockerfiles expect."""
    path = repo / dockerfile
    if not path.is_file():
        raise FileNotFoundError(f"{dockerfile} does not exist")
    run(["docker", "build", "-f", str(path), "-t", tag, str(repo)])
