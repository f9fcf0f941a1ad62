"""Load a table from a URI: files through fsspec, or a built-in data set."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import fsspec
import pandas as pd

from . import loan_default
from .errors import TrainerError

BUILTINS = ("breast-cancer", "loan-default")


def _builtin(uri: str) -> pd.DataFrame:
    parts = urlsplit(uri.removeprefix("builtin:"))
    name = parts.path
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    try:
        if name == "loan-default":
            return loan_default.generate(
                rows=int(query.get("rows", 20_000)),
                seed=int(query.get("seed", 0)),
                shift=float(query.get("shift", 0.0)),
            )
        if name == "breast-cancer":
            from sklearn.datasets import load_breast_cancer

            frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
            return frame
    except ValueError as error:
        raise TrainerError(f"dataset {uri}: bad parameter: {error}") from error
    raise TrainerError(f"dataset {uri}: unknown built-in data set (known: {', '.join(BUILTINS)})")


def _format_of(uri: str, declared: str) -> str:
    if declared != "auto":
        return declared
    path = urlsplit(uri).path.lower()
    if path.endswith((".parquet", ".pq")):
        return "parquet"
    if path.endswith((".csv", ".csv.gz", ".txt")):
        return "csv"
    raise TrainerError(f"dataset {uri}: cannot tell the format from the name; set dataset.format")


def load(uri: str, declared_format: str = "auto") -> pd.DataFrame:
    """The whole table; any failure is a TrainerError naming the URI."""
    if uri.startswith("builtin:"):
        return _builtin(uri)
    table_format = _format_of(uri, declared_format)
    try:
        with fsspec.open(uri, "rb", compression="infer") as handle:
            if table_format == "parquet":
                return pd.read_parquet(handle)
            return pd.read_csv(handle)
    except FileNotFoundError as error:
        raise TrainerError(f"dataset {uri}: not found") from error
    except ImportError as error:
        raise TrainerError(f"dataset {uri}: this scheme needs an extra package: {error}") from error
    except (OSError, ValueError, pd.errors.ParserError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise TrainerError(f"dataset {uri}: cannot read as {table_format}: {reason}") from error
    except Exception as error:  # fsspec back-ends raise their own types (HTTP, S3, ...)
        raise TrainerError(
            f"dataset {uri}: cannot read: {type(error).__name__}: {error}"
        ) from error


def digest(frame: pd.DataFrame) -> str:
    """A content digest of the table as loaded: same rows and columns, same digest."""
    hasher = hashlib.sha256()
    hasher.update("\x1f".join(map(str, frame.columns)).encode())
    hasher.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return "sha256:" + hasher.hexdigest()
