"""The trainer image trains the example as its Job would run it."""

from __future__ import annotations

from modelrelease_operator import security
from modelrelease_trainer import artifacts

from .conftest import Trained


def test_trains_the_example_into_the_claim(trained: Trained) -> None:
    artifact = trained.artifact
    files = ("model.ubj", "model.sha256", "SHA256SUMS", "metrics.json", "reference.json")
    for file in (*files, "model-card.json"):
        assert (artifact / file).is_file(), f"{file} missing from {sorted(artifact.iterdir())}"
    stored = {name: (artifact / name).read_bytes() for name in artifacts.COVERED_FILES}
    digest = artifacts.sha256_hex(artifacts.sha256sums(stored))
    assert trained.summary["digest"].removeprefix("sha256:") == digest
    assert (artifact / "model.sha256").read_text().strip() == digest
    assert trained.summary["metrics"]["roc_auc"] >= 0.8
    assert trained.summary["metrics"]["log_loss"] <= 0.35


def test_runs_as_the_numeric_non_root_user(trained: Trained) -> None:
    owners = {path.stat().st_uid for path in trained.artifact.iterdir()}
    assert owners == {security.RUN_AS}
