"""`python -m tests.controlplane`: start a control plane, print how to reach it, and
keep it up until Ctrl-C. `--real-node` adds a real worker node (realnode.py; root,
runc and the CNI plugins needed)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal

from . import binaries
from .cluster import ControlPlane


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.controlplane")
    parser.add_argument(
        "--real-node",
        action="store_true",
        help="also join a real node (containerd, kubelet, kube-proxy) that runs pods",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    found = binaries.ensure(real_node=args.real_node)
    with ControlPlane(found.bin_dir, real_node=args.real_node) as cluster:
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in cluster.timings.items())
        print(f"Kubernetes {cluster.version} at {cluster.server} ({steps})")
        print(f"export KUBECONFIG={cluster.admin_kubeconfig}")
        node = cluster.real_node
        if node is not None:
            print(
                f"real node {node.name} ({node.address}, label {node.label}) Ready; import "
                f"images with: {node.bin_dir / 'ctr'} -a {node.containerd.socket} "
                "-n k8s.io images import ARCHIVE"
            )
        print(f"logs: {cluster.workdir / 'logs'}; Ctrl-C stops everything")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
