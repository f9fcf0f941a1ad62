"""Fixtures for releases judged from real metrics (imported by tests/conftest.py, so
one Prometheus and one set of models serve every suite in a session)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

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


ServingFactory = Callable[[str, list[Artifact]], dict[str, ServingProcess]]


@pytest.fixture
def serving(prometheus: Prometheus, tmp_path: Path) -> Iterator[ServingFactory]:
    """`serving(model, [artifacts])` starts one process per artifact (serving `model` at
    the artifact's version), adds them to Prometheus' targets and waits for a first
    scrape of each. All are stopped and dropped from the targets after the test."""
    running: list[ServingProcess] = []

    def start(model: str, which: list[Artifact]) -> dict[str, ServingProcess]:
        started_now = [ServingProcess(a, model, tmp_path) for a in which]
        running.extend(started_now)
        for process in started_now:
            process.start()
        prometheus.set_targets({p.address: f"{p.model}/{p.version}" for p in running})
        prometheus.wait_targets_up([p.address for p in started_now])
        return {p.version: p for p in started_now}

    try:
        yield start
    finally:
        for process in running:
            process.stop()
        prometheus.set_targets([])
