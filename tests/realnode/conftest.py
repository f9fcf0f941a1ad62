"""`real_cluster`: a ControlPlane of this suite's own (not the session's shared one)
with a real node joined, Ready; skipped, with one line, where runc or the CNI plugins
are missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controlplane import binaries, nodeimages, realnode
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.nodes import GPU_NODE
from tests.integration.fixtures import report


@pytest.fixture(scope="session")
def real_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    problem = realnode.missing_host_parts()
    if problem:
        pytest.skip(problem)
    found = binaries.ensure(real_node=True)
    # Of kwok's nodes only the tainted GPU node: every other pod runs for real, so
    # manifests apply as written, without node selectors.
    cluster = ControlPlane(
        found.bin_dir, tmp_path_factory.mktemp("realnode"), nodes=(GPU_NODE,), real_node=True
    )
    cluster.start()
    node = cluster.real_node
    assert node is not None
    steps = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in node.timings.items())
    report(
        request.config,
        f"real node: {node.name} ({node.address}) on {cluster.server}; binaries ready in "
        f"{found.seconds:.1f}s; control plane {cluster.timings['total']:.1f}s; node: {steps}; "
        f"logs in {cluster.workdir / 'logs'}",
    )
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def webserve_archive(real_cluster: ControlPlane) -> Path:
    """nodeimages.WEBSERVE_IMAGE as an OCI archive (not imported yet)."""
    return nodeimages.webserve_image(real_cluster.bin_dir)
