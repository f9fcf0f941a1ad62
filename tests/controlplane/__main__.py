"""`python -m tests.controlplane`: start a control plane, print how to reach it, and
keep it up until Ctrl-C."""

from __future__ import annotations

import contextlib
import logging
import signal

from . import binaries
from .cluster import ControlPlane


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    found = binaries.ensure()
    with ControlPlane(found.bin_dir) as cluster:
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in cluster.timings.items())
        print(f"Kubernetes {cluster.version} at {cluster.server} ({steps})")
        print(f"export KUBECONFIG={cluster.admin_kubeconfig}")
        print(f"logs: {cluster.workdir / 'logs'}; Ctrl-C stops everything")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
