"""Load an artifact folder (docs/artifacts.md) and check its digest."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fsspec
import orjson
import xgboost as xgb

MODEL_FILE = "model.ubj"
DIGEST_FILE = "model.sha256"
CARD_FILE = "model-card.json"
REFERENCE_FILE = "reference.json"
#: The `sha256sum` listing of the covered files whose sha256 is the artifact digest.
SUMS_FILE = "SHA256SUMS"
#: Every file the server reads, in byte order: what the artifact digest covers.
COVERED_FILES = (CARD_FILE, MODEL_FILE, REFERENCE_FILE)
TASKS = ("binary", "multiclass", "regression")

log = logging.getLogger("modelrelease_server")


class ArtifactError(Exception):
    """The artifact cannot be served; the message is the readiness reason."""


@dataclass(frozen=True)
class Feature:
    """One model input column."""

    name: str
    categories: tuple[str, ...] | None  # None for numeric features

    @property
    def categorical(self) -> bool:
        return self.categories is not None


@dataclass(frozen=True)
class Artifact:
    """A verified, loaded artifact."""

    booster: xgb.Booster
    digest: str
    name: str
    version: str
    task: str
    classes: tuple[Any, ...]
    features: tuple[Feature, ...]
    score_edges: tuple[float, ...]


def load(
    uri: str,
    expected_digest: str | None,
    *,
    name: str | None = None,
    version: str | None = None,
    nthread: int = 1,
) -> Artifact:
    """Read, verify and load the artifact at `uri` (a path or an fsspec URI)."""
    try:
        fs, root = fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as error:
        raise ArtifactError(f"cannot open artifact location {uri!r}: {error}") from error

    def read_or_none(file: str) -> bytes | None:
        try:
            return bytes(fs.cat_file(f"{root.rstrip('/')}/{file}"))
        except FileNotFoundError:
            return None
        except OSError as error:
            raise ArtifactError(f"cannot read {file} from {uri}: {error}") from error

    def read(file: str) -> bytes:
        data = read_or_none(file)
        if data is None:
            raise ArtifactError(f"artifact is incomplete: {file} is missing at {uri}")
        return data

    files = {file: read(file) for file in COVERED_FILES}
    sums = sha256sums(files)
    digest = hashlib.sha256(sums).hexdigest()
    if expected_digest is None:
        # Without a configured digest the artifact's own record is the best check left.
        expected_digest = read(DIGEST_FILE).decode("ascii", "replace").strip().lower()
    expected_digest = expected_digest.strip().lower().removeprefix("sha256:")
    if digest != expected_digest:
        recorded = read_or_none(SUMS_FILE)
        digest = _legacy_or_mismatch(files, sums, expected_digest, recorded, uri)
    card = _json(files[CARD_FILE], CARD_FILE)
    reference = _json(files[REFERENCE_FILE], REFERENCE_FILE)
    raw_model = files[MODEL_FILE]
    try:
        booster = xgb.Booster()
        booster.load_model(bytearray(raw_model))
        booster.set_param({"nthread": nthread})
    except xgb.core.XGBoostError as error:
        raise ArtifactError(f"{MODEL_FILE} is not a loadable XGBoost model: {error}") from error
    return _assemble(booster, digest, card, reference, name, version)


def sha256sums(files: Mapping[str, bytes]) -> bytes:
    """`sha256sum`'s listing of the covered files, in byte order of their names: one
    `<hex sha256>  <name>` line each. Its own sha256 is the artifact digest."""
    return b"".join(
        f"{hashlib.sha256(files[name]).hexdigest()}  {name}\n".encode()
        for name in sorted(COVERED_FILES)
    )


def _legacy_or_mismatch(
    files: Mapping[str, bytes],
    sums: bytes,
    expected: str,
    recorded: bytes | None,
    uri: str,
) -> str:
    """The digest to serve under when `expected` is an older trainer's digest of model.ubj
    alone and the artifact is that old (docs/artifacts.md); otherwise raises the mismatch,
    naming the files that differ where `recorded` (the artifact's SHA256SUMS) is the
    listing `expected` was made from."""
    digest = hashlib.sha256(sums).hexdigest()
    if expected == hashlib.sha256(files[MODEL_FILE]).hexdigest():
        if recorded is None:
            log.warning(
                "%s: legacy digest of %s alone (an older trainer's artifact): %s and %s are "
                "not verified; retrain it for a digest that covers them",
                uri,
                MODEL_FILE,
                CARD_FILE,
                REFERENCE_FILE,
            )
            return expected
        raise ArtifactError(
            f"digest mismatch: expected sha256:{expected} is the digest of {MODEL_FILE} alone; "
            f"this artifact's digest covers {', '.join(COVERED_FILES)} and is sha256:{digest}"
        )
    if recorded is not None and hashlib.sha256(recorded).hexdigest() == expected:
        # The artifact's listing is the one the expected digest was made from: its lines
        # are the expected digests of each file.
        want, have = _parse_sums(recorded), _parse_sums(sums)
        changed = [
            f"{name} has sha256:{have[name]}, expected "
            + (f"sha256:{want[name]}" if name in want else "none (not listed)")
            for name in COVERED_FILES
            if want.get(name) != have[name]
        ]
        if changed:
            raise ArtifactError(
                f"digest mismatch: {'; '.join(changed)} (artifact digest sha256:{expected})"
            )
    raise ArtifactError(
        f"digest mismatch: the artifact ({', '.join(COVERED_FILES)}) has sha256:{digest}, "
        f"expected sha256:{expected}"
    )


def _parse_sums(text: bytes) -> dict[str, str]:
    """`<hex>  <name>` lines as name -> hex."""
    listing: dict[str, str] = {}
    for line in text.decode("utf-8", "replace").splitlines():
        hexdigest, _, name = line.partition("  ")
        listing[name] = hexdigest
    return listing


def describe(uri: str) -> tuple[str | None, str | None]:
    """Best effort name and version from the model card, for labels when loading failed."""
    try:
        fs, root = fsspec.core.url_to_fs(uri)
        card = orjson.loads(fs.cat_file(f"{root.rstrip('/')}/{CARD_FILE}"))
        return str(card["name"]), str(card["version"])
    except Exception:  # whatever is wrong was already reported by load()
        return None, None


def _json(raw: bytes, file: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ArtifactError(f"{file} is not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise ArtifactError(f"{file} must hold a JSON object")
    return value


def _assemble(
    booster: xgb.Booster,
    digest: str,
    card: dict[str, Any],
    reference: dict[str, Any],
    name: str | None,
    version: str | None,
) -> Artifact:
    try:
        task = card["task"]
        if task not in TASKS:
            raise ArtifactError(f"{CARD_FILE}: unknown task {task!r}")
        features = tuple(
            Feature(
                name=str(f["name"]),
                categories=(
                    tuple(str(c) for c in f["categories"]) if f["type"] == "categorical" else None
                ),
            )
            for f in card["features"]
        )
        classes = tuple(card.get("classes") or ()) if task != "regression" else ()
        edges = sorted({float(e) for e in reference["score"]["edges"]} - {math.inf})
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactError(f"{CARD_FILE}/{REFERENCE_FILE} malformed: {error!r}") from error
    if booster.num_features() != len(features):
        raise ArtifactError(
            f"model has {booster.num_features()} features, {CARD_FILE} lists {len(features)}"
        )
    if task != "regression" and len(classes) < 2:
        raise ArtifactError(f"{CARD_FILE}: a {task} model needs at least two classes")
    return Artifact(
        booster=booster,
        digest=digest,
        name=name or str(card.get("name") or "model"),
        version=version or str(card.get("version") or "unknown"),
        task=task,
        classes=classes,
        features=features,
        score_edges=tuple(edges),
    )
