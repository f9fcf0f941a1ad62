"""Turn a table into the booster's inputs: float32 columns, categoricals as codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import TrainerError


@dataclass(frozen=True)
class Feature:
    name: str
    categories: tuple[str, ...] | None = None  # None: numeric

    def card(self) -> dict[str, Any]:
        if self.categories is None:
            return {"name": self.name, "type": "numeric"}
        return {"name": self.name, "type": "categorical", "categories": list(self.categories)}


def _is_categorical(column: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column))


def describe(frame: pd.DataFrame, label: str, columns: list[str] | None) -> list[Feature]:
    """The model's features, in order, with each categorical's known values."""
    if label not in frame.columns:
        known = ", ".join(map(str, frame.columns))
        raise TrainerError(f"dataset: label column {label!r} not found (columns: {known})")
    names = columns if columns is not None else [c for c in frame.columns if c != label]
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise TrainerError(f"dataset: feature columns not found: {', '.join(missing)}")
    if label in names:
        raise TrainerError(f"dataset: the label column {label!r} is also a feature column")
    if not names:
        raise TrainerError("dataset: no feature columns besides the label")
    features = []
    for name in names:
        column = frame[name]
        if _is_categorical(column):
            values = sorted(str(v) for v in column.dropna().unique())
            features.append(Feature(str(name), tuple(values)))
        else:
            features.append(Feature(str(name)))
    return features


def matrix(frame: pd.DataFrame, features: list[Feature]) -> np.ndarray:
    """float32 [rows, features]; unknown categories and blanks are NaN (missing)."""
    out = np.empty((len(frame), len(features)), dtype=np.float32)
    for index, feature in enumerate(features):
        column = frame[feature.name]
        if feature.categories is None:
            out[:, index] = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float32)
        else:
            codes = pd.Categorical(column.astype("string"), categories=feature.categories).codes
            out[:, index] = np.where(codes < 0, np.nan, codes).astype(np.float32)
    return out


def feature_types(features: list[Feature]) -> list[str]:
    return ["q" if f.categories is None else "c" for f in features]


def encode_labels(column: pd.Series, task: str) -> tuple[np.ndarray, list[Any] | None]:
    """Targets as the booster wants them, and the label value of each class index."""
    if column.isna().any():
        raise TrainerError(
            f"dataset: label column {column.name!r} has {column.isna().sum()} blank rows"
        )
    if task == "regression":
        values = pd.to_numeric(column, errors="coerce")
        if values.isna().any():
            raise TrainerError(f"dataset: label column {column.name!r} is not numeric")
        return values.to_numpy(dtype=np.float32), None
    classes = sorted(column.unique().tolist(), key=str)
    if len(classes) < 2:
        raise TrainerError(
            f"dataset: label column {column.name!r} has a single class ({classes[0]!r}); "
            "classification needs at least two"
        )
    if task == "binary" and len(classes) != 2:
        raise TrainerError(
            f"dataset: task binary but label column {column.name!r} has {len(classes)} classes"
        )
    index = {value: position for position, value in enumerate(classes)}
    return column.map(index).to_numpy(dtype=np.int32), [
        c.item() if hasattr(c, "item") else c for c in classes
    ]
