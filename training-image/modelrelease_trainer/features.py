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


#: The largest magnitude XGBoost's float32 input holds; beyond it a value becomes inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Above this share of values that parse as numbers, a text column is numeric data with
#: stray strings (a typo, "n/a") rather than categories that happen to include numbers.
MOSTLY_NUMERIC = 0.5
#: Values of a text column parsed to tell categories from numbers with stray strings.
NUMERIC_SAMPLE = 10_000
#: Longest value shown in an error, so that it stays one readable line.
SHOWN_VALUE = 40


def _example(column: pd.Series, bad: np.ndarray) -> str:
    """`row N: value` for the first bad row; rows count from 1, the header excluded."""
    position = int(np.flatnonzero(bad)[0])
    value = column.iloc[position]
    text = repr(value.item() if isinstance(value, np.generic) else value)
    if len(text) > SHOWN_VALUE:
        text = text[: SHOWN_VALUE - 3] + "..."
    return f"row {position + 1}: {text}"


def _mostly_numeric(column: pd.Series) -> bool:
    """Whether most values of a text column parse as numbers, judged on an evenly spaced
    sample: parsing every value of a text column cost more than a second per million rows,
    and a column of categories is told from numbers with stray strings by far fewer."""
    values = column.dropna()
    sample = values.iloc[:: max(1, len(values) // NUMERIC_SAMPLE)]
    if sample.empty:
        return False
    return bool(pd.to_numeric(sample, errors="coerce").notna().mean() > MOSTLY_NUMERIC)


def _is_categorical(column: pd.Series, name: str, listed: set[str] | None) -> bool:
    """Listed columns are categorical; others must be numbers. Without a list, text
    columns are categorical unless they are mostly numbers (then the rest is an error)."""
    if listed is not None and name in listed:
        return True
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return False
    is_text = not isinstance(column.dtype, pd.CategoricalDtype) and (
        pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)
    )
    if listed is None and not is_text:
        return True  # pandas categoricals, dates: categories, as the table declares them
    if listed is None and is_text and not _mostly_numeric(column):
        return True  # plain categories: decided from a sample, without parsing every value
    present = column.notna().to_numpy()
    bad = present & pd.to_numeric(column, errors="coerce").isna().to_numpy() if is_text else present
    if not bad.any():
        return False
    if listed is None and (present.sum() - bad.sum()) / present.sum() <= MOSTLY_NUMERIC:
        return True
    raise TrainerError(
        f"dataset: column {name!r} has {int(bad.sum())} values that are not numbers "
        f"(e.g. {_example(column, bad)}); fix them or list the column in "
        "dataset.categoricalColumns"
    )


def _check_range(column: pd.Series, what: str) -> None:
    """XGBoost refuses inf (also what a float beyond float32 becomes) with an opaque error."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.abs(values) > FLOAT32_MAX
    if bad.any():
        raise TrainerError(
            f"dataset: {what} has {int(bad.sum())} infinite or out-of-range values "
            f"(float32 holds |x| <= {FLOAT32_MAX:.4g}), e.g. {_example(column, bad)}"
        )


def _categories(column: pd.Series, name: str, limit: int) -> tuple[str, ...]:
    values = sorted({str(v) for v in column.dropna().unique()})
    if len(values) > limit:
        raise TrainerError(
            f"dataset: categorical column {name!r} has {len(values)} distinct values; "
            f"at most {limit} (dataset.maxCategories)"
        )
    return tuple(values)


def describe(
    frame: pd.DataFrame,
    label: str,
    columns: list[str] | None,
    categorical: list[str] | None = None,
    max_categories: int = 1024,
) -> list[Feature]:
    """The model's features, in order, with each categorical's known values; refuses
    values XGBoost cannot take, naming the column and a row."""
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
    listed = set(categorical) if categorical is not None else None
    strays = sorted((listed or set()) - set(names))
    if strays:
        raise TrainerError(
            f"dataset: categoricalColumns names columns that are no features: {', '.join(strays)}"
        )
    features = []
    for name in names:
        column = frame[name]
        if _is_categorical(column, str(name), listed):
            features.append(Feature(str(name), _categories(column, str(name), max_categories)))
        else:
            _check_range(column, f"column {str(name)!r}")
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
        _check_range(values, f"label column {column.name!r}")
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
