"""The artifact digest (docs/artifacts.md): it covers every file the server reads, a
tampered one keeps the server unready, and older trainers' model-only digests."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import httpx
import pytest
from modelrelease_server import artifact as artifacts
from modelrelease_trainer import artifacts as trainer_artifacts

from tests.server.conftest import MODEL, RECORD, start_server


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def folder(loan_default_artifact: Path, tmp_path: Path) -> Path:
    """A copy of the trained artifact, to tamper with."""
    copy = tmp_path / "artifact"
    shutil.copytree(loan_default_artifact, copy)
    return copy


def digest_of(folder: Path) -> str:
    return "sha256:" + (folder / "model.sha256").read_text().strip()


def swap_first_two_features(folder: Path) -> None:
    """Still a well-formed card for the same booster, but every answer is now wrong."""
    card = json.loads((folder / "model-card.json").read_text())
    card["features"][0], card["features"][1] = card["features"][1], card["features"][0]
    (folder / "model-card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")


def make_legacy(folder: Path) -> str:
    """The layout an older trainer wrote: model.sha256 the digest of model.ubj alone."""
    (folder / "SHA256SUMS").unlink()
    model_only = sha256((folder / "model.ubj").read_bytes())
    (folder / "model.sha256").write_text(model_only + "\n")
    return model_only


def test_the_digest_covers_card_model_and_reference(loan_default_artifact: Path) -> None:
    loaded = artifacts.load(str(loan_default_artifact), digest_of(loan_default_artifact))
    files = {name: (loan_default_artifact / name).read_bytes() for name in artifacts.COVERED_FILES}
    listing = artifacts.sha256sums(files)
    assert listing == trainer_artifacts.sha256sums(files)  # the two images agree
    assert listing == (loan_default_artifact / "SHA256SUMS").read_bytes()
    assert loaded.digest == sha256(listing) == digest_of(loan_default_artifact).split(":")[1]
    assert [line.split("  ")[1] for line in listing.decode().splitlines()] == [
        "model-card.json",
        "model.ubj",
        "reference.json",
    ]


@pytest.mark.parametrize("expected", ["configured", "model.sha256"])
def test_a_swapped_feature_order_is_refused_naming_the_card(folder: Path, expected: str) -> None:
    digest = digest_of(folder) if expected == "configured" else None
    swap_first_two_features(folder)
    with pytest.raises(artifacts.ArtifactError) as refused:
        artifacts.load(str(folder), digest)
    reason = str(refused.value)
    assert reason.startswith("digest mismatch: model-card.json has sha256:")
    assert "model.ubj" not in reason and "reference.json" not in reason


def test_a_tampered_reference_is_refused_naming_it(folder: Path) -> None:
    digest = digest_of(folder)
    reference = json.loads((folder / "reference.json").read_text())
    reference["score"]["counts"] = list(reversed(reference["score"]["counts"]))
    (folder / "reference.json").write_text(json.dumps(reference))
    with pytest.raises(artifacts.ArtifactError, match=r"mismatch: reference\.json has sha256:"):
        artifacts.load(str(folder), digest)


def test_a_rewritten_listing_cannot_vouch_for_a_tampered_card(folder: Path) -> None:
    """Whoever also rewrites SHA256SUMS and model.sha256 still fails the configured digest;
    the reason then names the digest only."""
    digest = digest_of(folder)
    swap_first_two_features(folder)
    files = {name: (folder / name).read_bytes() for name in artifacts.COVERED_FILES}
    listing = artifacts.sha256sums(files)
    (folder / "SHA256SUMS").write_bytes(listing)
    (folder / "model.sha256").write_text(sha256(listing) + "\n")
    with pytest.raises(artifacts.ArtifactError) as refused:
        artifacts.load(str(folder), digest)
    assert str(refused.value) == (
        "digest mismatch: the artifact (model-card.json, model.ubj, reference.json) has "
        f"sha256:{sha256(listing)}, expected {digest}"
    )


def test_without_the_listing_the_reason_names_the_digest(folder: Path) -> None:
    digest = digest_of(folder)
    (folder / "SHA256SUMS").unlink()
    assert artifacts.load(str(folder), digest).digest == digest.split(":")[1]
    swap_first_two_features(folder)
    pattern = rf"^digest mismatch: the artifact \(.*, expected {digest}$"
    with pytest.raises(artifacts.ArtifactError, match=pattern):
        artifacts.load(str(folder), digest)


def test_a_legacy_model_only_digest_is_accepted_with_a_warning(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model_only = make_legacy(folder)
    with caplog.at_level(logging.WARNING, logger="modelrelease_server"):
        for expected in (f"sha256:{model_only}", None):
            assert artifacts.load(str(folder), expected).digest == model_only
    assert "legacy digest of model.ubj alone" in caplog.text
    # ... but never for another model file.
    (folder / "model.ubj").write_bytes((folder / "model.ubj").read_bytes() + b" ")
    with pytest.raises(artifacts.ArtifactError, match="digest mismatch"):
        artifacts.load(str(folder), f"sha256:{model_only}")


def test_a_model_only_digest_is_refused_for_an_artifact_with_a_listing(folder: Path) -> None:
    """An artifact of this trainer is never checked by model.ubj alone."""
    model_only = sha256((folder / "model.ubj").read_bytes())
    with pytest.raises(artifacts.ArtifactError) as refused:
        artifacts.load(str(folder), f"sha256:{model_only}")
    assert "is the digest of model.ubj alone" in str(refused.value)
    assert digest_of(folder) in str(refused.value)


def test_a_tampered_card_keeps_the_server_unready(folder: Path, tmp_path: Path) -> None:
    digest = digest_of(folder)
    swap_first_two_features(folder)
    server = start_server(folder, tmp_path / "log", expected_digest=digest)
    try:
        ready = httpx.get(f"{server.url}/v2/health/ready", timeout=10)
        assert ready.status_code == 503
        assert "model-card.json has sha256:" in ready.json()["error"]
        assert httpx.get(f"{server.url}/v2/health/live", timeout=10).status_code == 200
        assert httpx.get(f"{server.url}/v2/models/{MODEL}/ready", timeout=10).status_code == 503
        assert httpx.post(f"{server.url}/predict", json=RECORD, timeout=10).status_code == 503
    finally:
        assert server.stop() == 0
    assert "model-card.json has sha256:" in (tmp_path / "log").read_text()
