"""`python -m tests.controlplane`: start a control plane, print how to reach it, and
keep it up until Ctrl-C. `--real-node` adds a real worker node (realnode.py; root,
runc and the CNI plugins needed)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
from pathlib import Path

from . import binaries
from .cluster import ControlPlane
from .nodes import DEFAULT_NODES, GPU_NODE


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.controlplane")
    parser.add_argument(
        "--real-node",
        action="store_true",
        help="also join a real node (containerd, kubelet, kube-proxy) that runs pods",
    )
    parser.add_argument("--workdir", type=Path, help="keep the cluster's files here")
    parser.add_argument(
        "--state",
        type=Path,
        help="once up, write how to reach the cluster here (JSON), for programs that "
        "run it in the background, e.g. `make demo`",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    found = binaries.ensure(real_node=args.real_node)
    # With a real node, kwok keeps only its tainted GPU node: every other pod runs for real.
    nodes = (GPU_NODE,) if args.real_node else DEFAULT_NODES
    with ControlPlane(
        found.bin_dir, args.workdir, nodes=nodes, real_node=args.real_node
    ) as cluster:
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
        print(f"logs: {cluster.workdir / 'logs'}; Ctrl-C stops everything", flush=True)
        if args.state:
            state = {
                "kubeconfig": str(cluster.admin_kubeconfig),
                "bin_dir": str(cluster.bin_dir),
                "logs": str(cluster.workdir / "logs"),
                "real_node": node.name if node else None,
                "containerd": str(node.containerd.socket) if node else None,
            }
            args.state.write_text(json.dumps(state))
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
