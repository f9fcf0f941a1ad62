"""Find (building once if needed) the control-plane binaries."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "build-binaries.sh"
NAMES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kubectl",
    # The GitOps evaluators: kstatus (cli-utils, as Flux runs it) and Argo CD's Lua health.
    "kstatus",
    "argocd-health",
    # The tests of charts/modelrelease.
    "helm",
)
#: In `Binaries.gitops_dir`: the Argo CD and Flux CRDs, and Argo CD's install manifest.
GITOPS_FILES = (
    "application-crd.yaml",
    "install.yaml",
    "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
    "source.toolkit.fluxcd.io_gitrepositories.yaml",
)
#: What `--real-node` adds: the node's programs and the static programs of its images.
REAL_NODE_NAMES = (
    "kubelet",
    "kube-proxy",
    "containerd",
    "containerd-shim-runc-v2",
    "ctr",
    "pause",
    "webserve",
)


@dataclass(frozen=True)
class Binaries:
    bin_dir: Path
    #: Seconds the build script took (almost nothing when everything was cached).
    seconds: float
    #: Whether the real node's programs (REAL_NODE_NAMES) are in bin_dir too.
    real_node: bool = False

    @property
    def images_dir(self) -> Path:
        """Image archives made from the binaries (the pause image), cached beside them."""
        return self.bin_dir.parent / "images"

    @property
    def gitops_dir(self) -> Path:
        """The GitOps tools' CRDs and Argo CD's install manifest (GITOPS_FILES)."""
        return self.bin_dir.parent / "gitops"


def ensure(timeout: float = 3600.0, *, real_node: bool = False) -> Binaries:
    """Run build-binaries.sh (a no-op when its cache is filled) and return the folder.

    Honours CONTROLPLANE_CACHE like the script does; a cold build takes minutes.
    `real_node` also builds kubelet, kube-proxy and containerd (`--real-node`).
    """
    started = time.monotonic()
    argv = ["bash", str(SCRIPT), *(["--real-node"] if real_node else [])]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{SCRIPT.name} failed with {done.returncode}:\n{done.stderr[-4000:]}")
    bin_dir = Path(done.stdout.strip().splitlines()[-1])
    wanted = NAMES + (REAL_NODE_NAMES if real_node else ())
    missing = [name for name in wanted if not (bin_dir / name).is_file()]
    missing += [
        f"gitops/{name}"
        for name in GITOPS_FILES
        if not (bin_dir.parent / "gitops" / name).is_file()
    ]
    if missing:
        raise RuntimeError(f"{SCRIPT.name} left no {', '.join(missing)} in {bin_dir}")
    return Binaries(bin_dir, time.monotonic() - started, real_node)
