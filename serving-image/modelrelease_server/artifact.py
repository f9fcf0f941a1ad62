"""Load an artifact folder (docs/artifacts.md) and check the model file's digest."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import fsspec
import orjson
import xgboost as xgb

MODEL_FILE = "model.ubj"
DIGEST_FILE = "model.sha256"
CARD_FILE = "model-card.json"
REFERENCE_FILE = "reference.json"
TASKS = ("binary", "multiclass", "regression")


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

    def read(file: str) -> bytes:
        path = f"{root.rstrip('/')}/{file}"
        try:
            return bytes(fs.cat_file(path))
        except FileNotFoundError as error:
            raise ArtifactError(f"artifact is incomplete: {file} is missing at {uri}") from error
        except OSError as error:
            raise ArtifactError(f"cannot read {file} from {uri}: {error}") from error

    raw_model = read(MODEL_FILE)
    digest = hashlib.sha256(raw_model).hexdigest()
    if expected_digest is None:
        # Without a configured digest the artifact's own record is the best check left.
        expected_digest = read(DIGEST_FILE).decode("ascii", "replace").strip().lower()
        expected_digest = expected_digest.removeprefix("sha256:")
    if digest != expected_digest:
        raise ArtifactError(
            f"digest mismatch: {MODEL_FILE} has sha256:{digest}, expected sha256:{expected_digest}"
        )
    card = _json(read(CARD_FILE), CARD_FILE)
    reference = _json(read(REFERENCE_FILE), REFERENCE_FILE)
    try:
        booster = xgb.Booster()
        booster.load_model(bytearray(raw_model))
        booster.set_param({"nthread": nthread})
    except xgb.core.XGBoostError as error:
        raise ArtifactError(f"{MODEL_FILE} is not a loadable XGBoost model: {error}") from error
    return _assemble(booster, digest, card, reference, name, version)


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
