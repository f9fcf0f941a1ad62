"""Train → store → serve through a real S3-compatible server (SeaweedFS): the trainer
image writes the artifact with the keys of the training's credentialsSecret, the server
image reads it with the release's, checks the digest and serves it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import httpx
import pytest
from modelrelease_operator.api.release import ModelRef
from modelrelease_trainer import artifacts

from tests.objectstore import ObjectStore
from tests.server.conftest import RECORD

from . import podman
from .conftest import example_training, run_training
from .serving import start_server


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    with ObjectStore(tmp_path_factory.mktemp("seaweedfs")) as running:
        yield running


@pytest.fixture(scope="module")
def stored(
    images: dict[str, podman.Image], store: ObjectStore, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    manifest = example_training("loan-default-v2")
    assert manifest["spec"]["artifacts"]["uri"].startswith("s3://")
    done, _, termination = run_training(
        manifest,
        images["trainer"],
        tmp_path_factory.mktemp("trainer-s3"),
        env_from=store.credentials(),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary: dict[str, Any] = json.loads(termination.read_text())
    return summary


def test_the_trainer_writes_the_artifact_to_the_bucket(
    stored: dict[str, Any], store: ObjectStore
) -> None:
    assert stored["artifactUri"] == "s3://models/loan-default/loan-default-v2"
    fs, root = fsspec.core.url_to_fs(
        stored["artifactUri"],
        key=store.access_key,
        secret=store.secret_key,
        endpoint_url=store.endpoint,
    )
    names = {Path(path).name for path in fs.ls(root)}
    assert {"model.ubj", "model.sha256", "SHA256SUMS", "metrics.json", "reference.json"} <= names
    stored_files = {name: fs.cat(f"{root}/{name}") for name in artifacts.COVERED_FILES}
    digest = artifacts.sha256_hex(artifacts.sha256sums(stored_files))
    assert stored["digest"] == f"sha256:{digest}"


def candidate(stored: dict[str, Any]) -> ModelRef:
    return ModelRef(
        version="loan-default-v2",
        uri=stored["artifactUri"],
        digest=stored["digest"],
        training="loan-default-v2",
    )


def test_the_server_loads_verifies_and_serves_it(
    images: dict[str, podman.Image],
    stored: dict[str, Any],
    store: ObjectStore,
    tmp_path: Path,
    container_name: str,
) -> None:
    url = start_server(
        images["server"], candidate(stored), tmp_path, container_name, env_from=store.credentials()
    )
    assert httpx.get(f"{url}/v2/health/ready", timeout=5).json() == {"ready": True}
    predicted = httpx.post(f"{url}/predict", json=RECORD, timeout=10)
    assert predicted.status_code == 200, predicted.text
    # The digest the server verified, in its modelrelease_model info metric.
    assert stored["digest"] in httpx.get(f"{url}/metrics", timeout=5).text


def test_wrong_keys_keep_the_server_unready(
    images: dict[str, podman.Image],
    stored: dict[str, Any],
    store: ObjectStore,
    tmp_path: Path,
    container_name: str,
) -> None:
    keys = {**store.credentials(), "AWS_SECRET_ACCESS_KEY": "not-the-key"}
    url = start_server(images["server"], candidate(stored), tmp_path, container_name, env_from=keys)
    assert httpx.get(f"{url}/v2/health/ready", timeout=5).status_code == 503
    assert "model not loaded" in podman.logs(container_name)
