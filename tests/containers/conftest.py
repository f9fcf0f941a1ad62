"""The images `make images` builds, run as containers (podman) the way the cluster
would run them. Tests here carry the `containers` marker."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from modelrelease_operator import security
from modelrelease_operator.api.training import ModelTrainingSpec
from modelrelease_operator.training.jobs import TrainingRef, render_job

from tests.integration.fixtures import report

from . import podman

HERE = Path(__file__).resolve().parent
EXAMPLES = podman.REPO / "manifests" / "examples"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.containers)


@pytest.fixture(scope="session")
def images(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, podman.Image]:
    why = podman.missing()
    if why:
        pytest.skip(f"container tests need podman: {why}")
    built = podman.build_images(tmp_path_factory.mktemp("images"))
    for image in built.values():
        report(request.config, f"image {image.ref} {image.digest}")
    return built


def example_training(name: str) -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load((EXAMPLES / "training-loan-default.yaml").read_text())
    manifest["metadata"] = {"name": name, "namespace": "default"}
    return manifest


@dataclass(frozen=True)
class Trained:
    """What the trainer container left: the claim's folder, the artifact in it, the
    termination message."""

    store: Path
    artifact: Path
    summary: dict[str, Any]
    seconds: float


def run_training(
    manifest: dict[str, Any],
    image: podman.Image,
    workdir: Path,
    *,
    env_from: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    """Run the Job's container for `manifest` as rendered by the operator; returns the
    finished process, the host folder behind the claim and the termination log."""
    spec = ModelTrainingSpec.model_validate(manifest["spec"])
    meta = manifest["metadata"]
    job = render_job(spec, TrainingRef(meta["name"], meta["namespace"], "uid"))
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    container["image"] = image.ref
    uid = security.RUN_AS
    store = podman.writable_folder(workdir / "store", uid)
    termination = podman.writable_file(workdir / "termination-log", uid)
    name = f"trainer-{secrets.token_hex(4)}"
    args = podman.run_args(
        container,
        pod["securityContext"],
        volumes={
            "tmp": podman.writable_folder(workdir / "tmp", uid),
            "artifacts": store,
            "termination-log": termination,
        },
        env_from=env_from,
        name=name,
    )
    done = podman.run(args)
    podman.remove(name)
    return done, store, termination


@pytest.fixture(scope="session")
def trained(images: dict[str, podman.Image], tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """The loan-default example trained by the trainer image into a mounted folder: a
    claim, as artifact-store-pvc.yaml offers one-node clusters."""
    manifest = example_training("loan-default-v1")
    manifest["spec"]["artifacts"] = {"uri": "pvc://model-store/loan-default"}
    started = time.monotonic()
    done, store, termination = run_training(
        manifest, images["trainer"], tmp_path_factory.mktemp("trainer")
    )
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(termination.read_text())
    sub_path = manifest["spec"]["artifacts"]["uri"].removeprefix("pvc://").partition("/")[2]
    return Trained(store, store / sub_path / "loan-default-v1", summary, seconds)


@pytest.fixture
def container_name() -> Iterator[str]:
    """A name for one container, removed after the test whatever happened."""
    name = f"mr-test-{secrets.token_hex(4)}"
    yield name
    podman.remove(name)
