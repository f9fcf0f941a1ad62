"""Load a table from a URI: files through fsspec, or a built-in data set."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import parse_qs, urlsplit

import fsspec
import fsspec.compression
import fsspec.utils
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


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame
    #: Hex sha256 of the file's bytes as stored (compressed or not): what `sha256sum`
    #: prints and `dataset.sha256` pins. For a built-in set, of the generated table.
    sha256: str


def _fetch(uri: str) -> bytes:
    try:
        with fsspec.open(uri, "rb") as handle:
            data: bytes = handle.read()
            return data
    except FileNotFoundError as error:
        raise TrainerError(f"dataset {uri}: not found") from error
    except ImportError as error:
        raise TrainerError(f"dataset {uri}: this scheme needs an extra package: {error}") from error
    except Exception as error:  # fsspec back-ends raise their own types (HTTP, S3, ...)
        raise TrainerError(
            f"dataset {uri}: cannot read: {type(error).__name__}: {error}"
        ) from error


def _parse(uri: str, data: bytes, table_format: str) -> pd.DataFrame:
    compression = fsspec.utils.infer_compression(urlsplit(uri).path)
    stream: BinaryIO = io.BytesIO(data)
    if compression:
        stream = fsspec.compression.compr[compression](stream, mode="rb")
    try:
        with stream as handle:
            if table_format == "parquet":
                return pd.read_parquet(handle)
            return pd.read_csv(handle)
    except (OSError, ValueError, EOFError, pd.errors.ParserError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise TrainerError(f"dataset {uri}: cannot read as {table_format}: {reason}") from error


def _check_pin(uri: str, actual: str, expected: str | None) -> None:
    if expected is not None and actual != expected:
        raise TrainerError(
            f"dataset {uri}: sha256 mismatch: the data has {actual}, dataset.sha256 pins {expected}"
        )


def read(uri: str, declared_format: str = "auto", sha256: str | None = None) -> Table:
    """The whole table and its digest, checked against the pin before it is parsed (the
    bytes are read once, so the pinned bytes are the parsed ones); any failure is a
    TrainerError naming the URI."""
    if uri.startswith("builtin:"):
        frame = _builtin(uri)
        actual = digest(frame).removeprefix("sha256:")
        _check_pin(uri, actual, sha256)
        return Table(frame, actual)
    table_format = _format_of(uri, declared_format)
    data = _fetch(uri)
    actual = hashlib.sha256(data).hexdigest()
    _check_pin(uri, actual, sha256)
    return Table(_parse(uri, data, table_format), actual)


def load(uri: str, declared_format: str = "auto") -> pd.DataFrame:
    """The whole table; any failure is a TrainerError naming the URI."""
    return read(uri, declared_format).frame


def digest(frame: pd.DataFrame) -> str:
    """A content digest of the table as loaded: same rows and columns, same digest."""
    hasher = hashlib.sha256()
    hasher.update("\x1f".join(map(str, frame.columns)).encode())
    hasher.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return "sha256:" + hasher.hexdigest()
