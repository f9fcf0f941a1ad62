"""Fixtures for releases judged from real metrics (imported by tests/conftest.py, so
one Prometheus and one set of models serve every suite in a session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from . import artifacts
from .prometheus import Prometheus, PrometheusUnavailable, started
from .serving import Artifact, ServingProcess


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """A real Prometheus on a loopback port, scraping whatever `set_targets` names."""
    try:
        server = started(tmp_path_factory.mktemp("prometheus"))
    except PrometheusUnavailable as reason:
        pytest.skip(str(reason))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> artifacts.Models:
    """stable v1, good candidate v2, bad (shift-trained) candidate v3-shifted."""
    return artifacts.train_all(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def artifact_store(models: artifacts.Models) -> Iterator[artifacts.ArtifactStore]:
    """The models' folders over http://127.0.0.1:<port>/ (the URIs the releases name)."""
    root = models.stable.path.parents[1]
    with artifacts.ArtifactStore(root) as store:
        yield store


#: The release the processes stand in for when a test does not say (the suites' name).
DEFAULT_RELEASE = "loan-default"


class ServingFactory(Protocol):
    def __call__(
        self,
        model: str,
        which: list[Artifact],
        *,
        namespace: str | None = None,
        release: str = DEFAULT_RELEASE,
    ) -> dict[str, ServingProcess]: ...


def scrape_targets(processes: list[ServingProcess]) -> tuple[dict[str, str], dict[str, Any]]:
    """`Prometheus.set_targets` arguments for serving processes: names and pod metadata."""
    names = {p.address: f"{p.model}/{p.version}" for p in processes}
    return names, {p.address: p.meta for p in processes}


@pytest.fixture
def serving(
    prometheus: Prometheus, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[ServingFactory]:
    """`serving(model, [artifacts], namespace=..., release=...)` starts one process per
    artifact (serving `model` at the artifact's version) standing in for the pods of that
    release (default: the test's `namespace` fixture, if it has one, and `loan-default`),
    adds them to Prometheus' targets and waits for a first scrape of each. All are
    stopped and dropped from the targets after the test."""
    running: list[ServingProcess] = []

    def start(
        model: str,
        which: list[Artifact],
        *,
        namespace: str | None = None,
        release: str = DEFAULT_RELEASE,
    ) -> dict[str, ServingProcess]:
        if namespace is None:
            uses = "namespace" in request.fixturenames
            namespace = str(request.getfixturevalue("namespace")) if uses else "default"
        started_now = [
            ServingProcess(a, model, tmp_path, namespace=namespace, release=release) for a in which
        ]
        running.extend(started_now)
        for process in started_now:
            process.start()
        prometheus.set_targets(*scrape_targets(running))
        prometheus.wait_targets_up([p.address for p in started_now])
        return {p.version: p for p in started_now}

    try:
        yield start
    finally:
        for process in running:
            process.stop()
        prometheus.set_targets([])
