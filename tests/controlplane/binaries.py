"""Find (building once if needed) the control-plane binaries."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "build-binaries.sh"
NAMES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


@dataclass(frozen=True)
class Binaries:
    bin_dir: Path
    #: Seconds the build script took (almost nothing when everything was cached).
    seconds: float


def ensure(timeout: float = 3600.0) -> Binaries:
    """Run build-binaries.sh (a no-op when its cache is filled) and return the folder.

    Honours CONTROLPLANE_CACHE like the script does; a cold build takes minutes.
    """
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{SCRIPT.name} failed with {done.returncode}:\n{done.stderr[-4000:]}")
    bin_dir = Path(done.stdout.strip().splitlines()[-1])
    missing = [name for name in NAMES if not (bin_dir / name).is_file()]
    if missing:
        raise RuntimeError(f"{SCRIPT.name} left no {', '.join(missing)} in {bin_dir}")
    return Binaries(bin_dir, time.monotonic() - started)
