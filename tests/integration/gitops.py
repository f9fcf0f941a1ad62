"""What the GitOps tests need besides the cluster: the real health evaluators (kstatus,
Argo CD's Lua health), `kubectl`, and a stand-in for the GitOps tool's apply.

The evaluators are the programs build-binaries.sh builds from the tools' own modules
(tests/controlplane/gomod/kstatus, argocd-health): these tests never re-implement a
tool's rules, they ask the tool's code.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.controlplane.cluster import ControlPlane

REPO = Path(__file__).resolve().parents[2]
ARGOCD_COMPONENT = REPO / "manifests" / "gitops" / "argocd"
#: The field manager of the stand-in GitOps tool (Flux's is kustomize-controller,
#: Argo CD's with server-side apply argocd-controller).
GITOPS_MANAGER = "gitops"


def as_list(objects: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})


@dataclass(frozen=True)
class Verdict:
    kind: str
    name: str
    status: str
    message: str
    #: kstatus only: what Flux's fork of the library says.
    flux: str = ""
    flux_message: str = ""


class Evaluators:
    """kstatus (cli-utils and Flux's fork) and Argo CD's health, run on objects."""

    def __init__(self, bin_dir: Path, argocd_cm: Path) -> None:
        self.bin_dir = bin_dir
        self.argocd_cm = argocd_cm

    def _run(self, argv: list[str], objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        done = subprocess.run(
            argv, input=as_list(objects), capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"{argv[0]} failed:\n{done.stderr}"
        return [json.loads(line) for line in done.stdout.splitlines()]

    def kstatus(self, objects: list[dict[str, Any]]) -> list[Verdict]:
        found = self._run([str(self.bin_dir / "kstatus")], objects)
        return [
            Verdict(v["kind"], v["name"], v["status"], v["message"], v["flux"], v["fluxMessage"])
            for v in found
        ]

    def argocd(self, objects: list[dict[str, Any]]) -> list[Verdict]:
        found = self._run([str(self.bin_dir / "argocd-health"), str(self.argocd_cm)], objects)
        return [Verdict(v["kind"], v["name"], v["status"], v["message"]) for v in found]


class Kubectl:
    """The control plane's kubectl, as the admin."""

    def __init__(self, cluster: ControlPlane) -> None:
        self.argv = [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={cluster.admin_kubeconfig}"]

    def run(
        self, *args: str, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.argv, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def __call__(self, *args: str, input: str | None = None) -> str:
        done = self.run(*args, input=input)
        assert done.returncode == 0, f"kubectl {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def start(self, *args: str) -> Background:
        return Background([*self.argv, *args])


class Background:
    """A command left running (`kubectl wait`), with when it ended."""

    def __init__(self, argv: list[str]) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.ended: float | None = None
        self.output = ""

    def running(self) -> bool:
        return self.process.poll() is None

    def finish(self, timeout: float) -> int:
        """Wait for it to end; its exit code (and `ended`, `output` set)."""
        self.output, _ = self.process.communicate(timeout=timeout)
        self.ended = time.monotonic()
        return self.process.returncode


def render_argocd_cm(kubectl: Kubectl, argocd_install: Path, workdir: Path) -> Path:
    """Argo CD's own argocd-cm (from its install manifest) with our component merged in
    by kustomize, as a user's Argo CD kustomization would build it."""
    documents = [d for d in yaml.safe_load_all(argocd_install.read_text()) if d]
    (base,) = [
        d for d in documents if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "argocd-cm"
    ]
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "argocd-cm.yaml").write_text(yaml.safe_dump(base))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "argocd",
        "resources": ["argocd-cm.yaml"],
        "components": [os.path.relpath(ARGOCD_COMPONENT, workdir)],
    }
    (workdir / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    rendered = workdir / "argocd-cm.rendered.yaml"
    rendered.write_text(kubectl("kustomize", str(workdir)))
    return rendered
