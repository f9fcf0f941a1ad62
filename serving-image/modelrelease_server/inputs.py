"""Turn request bodies (V2 tensors or JSON records) into the booster's float32 matrix."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .artifact import Feature
from .predictor import Matrix

NUMERIC_DATATYPES = frozenset(
    {"BOOL", "FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64"}
    | {"UINT8", "UINT16", "UINT32", "UINT64"}
)
NAN = math.nan


class InputError(Exception):
    """A request the server cannot use; answered with `status` and counted under `reason`."""

    def __init__(self, reason: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status


@dataclass(frozen=True)
class V2Request:
    """The parts of an Open Inference Protocol request the server acts on."""

    matrix: Matrix
    request_id: str | None
    outputs: tuple[str, ...] | None


class Schema:
    """The model's input columns and the lookups built from them once."""

    def __init__(self, features: tuple[Feature, ...], max_rows: int) -> None:
        self.features = features
        self.width = len(features)
        self.max_rows = max_rows
        self.position = {f.name: i for i, f in enumerate(features)}
        self.category_index = {
            f.name: {c: float(i) for i, c in enumerate(f.categories)}
            for f in features
            if f.categories is not None
        }

    def check_rows(self, rows: int) -> None:
        if rows == 0:
            raise InputError("empty", "the request holds no records")
        if rows > self.max_rows:
            raise InputError(
                "too_many_rows", f"{rows} records exceed the limit of {self.max_rows}", 413
            )

    # -- Open Inference Protocol V2 -------------------------------------------------------

    def decode_v2(self, body: Any) -> V2Request:
        if not isinstance(body, dict):
            raise InputError("bad_request", "the body must be a JSON object with 'inputs'")
        request_id = body.get("id")
        if request_id is not None and not isinstance(request_id, str):
            raise InputError("bad_request", "'id' must be a string")
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise InputError("bad_request", "'inputs' must be a non-empty list of tensors")
        for tensor in inputs:
            if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
                raise InputError("bad_request", "each input must be an object with a 'name'")
        names = [t["name"] for t in inputs]
        if len(inputs) == 1 and names[0] not in self.position:
            matrix = self._matrix_tensor(inputs[0])
        elif all(n in self.position for n in names):
            matrix = self._feature_tensors(inputs)
        else:
            unknown = sorted(n for n in names if n not in self.position)
            raise InputError("unknown_feature", f"unknown input(s): {', '.join(unknown)}")
        return V2Request(matrix, request_id, _requested_outputs(body.get("outputs")))

    def _matrix_tensor(self, tensor: dict[str, Any]) -> Matrix:
        name = tensor["name"]
        shape = _shape(tensor, name)
        datatype = tensor.get("datatype")
        if datatype not in NUMERIC_DATATYPES:
            raise InputError(
                "bad_datatype",
                f"input {name!r}: datatype {datatype!r} is not numeric "
                "(send categorical features as category index, or one input per feature)",
            )
        if len(shape) == 1:
            shape = [1, shape[0]]
        if len(shape) != 2 or shape[1] != self.width:
            raise InputError(
                "bad_shape", f"input {name!r}: shape {shape} must be [N, {self.width}]"
            )
        self.check_rows(shape[0])
        values = _numbers(tensor.get("data"), name)
        if values.size != shape[0] * shape[1]:
            raise InputError(
                "bad_shape", f"input {name!r}: {values.size} values do not fill shape {shape}"
            )
        return values.reshape(shape[0], shape[1])

    def _feature_tensors(self, inputs: list[dict[str, Any]]) -> Matrix:
        names = [t["name"] for t in inputs]
        missing = [f.name for f in self.features if f.name not in names]
        if missing:
            raise InputError("missing_feature", f"missing input(s): {', '.join(missing)}")
        if len(set(names)) != len(names):
            raise InputError("bad_request", "an input is given more than once")
        columns: list[Any] = [None] * self.width
        rows: int | None = None
        for tensor in inputs:
            name = tensor["name"]
            shape = _shape(tensor, name)
            if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
                raise InputError(
                    "bad_shape", f"input {name!r}: shape {shape} must be [N] or [N, 1]"
                )
            if rows is None:
                rows = shape[0]
                self.check_rows(rows)
            elif shape[0] != rows:
                raise InputError("bad_shape", f"input {name!r}: {shape[0]} rows, others {rows}")
            column = self._column(tensor, name)
            if column.size != rows:
                raise InputError(
                    "bad_shape", f"input {name!r}: {column.size} values do not fill shape {shape}"
                )
            columns[self.position[name]] = column
        return np.column_stack(columns).astype(np.float32, copy=False)

    def _column(self, tensor: dict[str, Any], name: str) -> Matrix:
        datatype = tensor.get("datatype")
        data = tensor.get("data")
        lookup = self.category_index.get(name)
        if datatype == "BYTES":
            if lookup is None:
                raise InputError("non_numeric", f"input {name!r} is numeric; BYTES not allowed")
            flat = _flatten(data, name)
            if not all(isinstance(v, str) for v in flat):
                raise InputError("non_numeric", f"input {name!r}: BYTES data must be strings")
            return np.array([lookup.get(v, NAN) for v in flat], dtype=np.float32)
        if datatype not in NUMERIC_DATATYPES:
            raise InputError("bad_datatype", f"input {name!r}: unknown datatype {datatype!r}")
        return _numbers(data, name).reshape(-1)

    # -- JSON records ---------------------------------------------------------------------

    def decode_records(self, body: Any) -> tuple[Matrix, bool]:
        """Returns the matrix and whether the body was a single record (an object)."""
        single = False
        if isinstance(body, dict) and "instances" in body and "instances" not in self.position:
            body = body["instances"]
        if isinstance(body, dict):
            body, single = [body], True
        if not isinstance(body, list):
            raise InputError(
                "bad_request",
                "the body must be a record, a list of records or {'instances': [...]}",
            )
        self.check_rows(len(body))
        rows = [self._record(record, i) for i, record in enumerate(body)]
        return np.array(rows, dtype=np.float32), single

    def _record(self, record: Any, index: int) -> list[float]:
        if not isinstance(record, dict):
            raise InputError("bad_request", f"record {index} is not a JSON object")
        if len(record) != self.width or any(k not in self.position for k in record):
            unknown = sorted(str(k) for k in record if k not in self.position)
            if unknown:
                raise InputError(
                    "unknown_feature", f"record {index}: unknown feature(s): {', '.join(unknown)}"
                )
            missing = [f.name for f in self.features if f.name not in record]
            raise InputError(
                "missing_feature", f"record {index}: missing feature(s): {', '.join(missing)}"
            )
        row: list[float] = []
        for feature in self.features:
            value = record[feature.name]
            if value is None:
                row.append(NAN)
            elif isinstance(value, int | float):
                row.append(float(value))
            elif isinstance(value, str) and feature.categories is not None:
                row.append(self.category_index[feature.name].get(value, NAN))
            else:
                kind = "a category name or index" if feature.categorical else "a number or null"
                raise InputError(
                    "non_numeric", f"record {index}: feature {feature.name!r} must be {kind}"
                )
        return row


def _shape(tensor: dict[str, Any], name: str) -> list[int]:
    shape = tensor.get("shape")
    if (
        not isinstance(shape, list)
        or not shape
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise InputError("bad_shape", f"input {name!r}: 'shape' must be a list of sizes")
    return shape


def _numbers(data: Any, name: str) -> Matrix:
    if not isinstance(data, list):
        raise InputError("bad_request", f"input {name!r}: 'data' must be a list")
    try:
        # float32 overflow to inf is fine: trees only compare against split values.
        with np.errstate(over="ignore"):
            values = np.asarray(data, dtype=np.float32)
    except (ValueError, TypeError) as error:
        reason = "bad_shape" if "inhomogeneous" in str(error) else "non_numeric"
        raise InputError(reason, f"input {name!r}: {error}") from error
    return values.reshape(-1)


def _flatten(data: Any, name: str) -> list[Any]:
    if not isinstance(data, list):
        raise InputError("bad_request", f"input {name!r}: 'data' must be a list")
    if data and all(isinstance(v, list) for v in data):
        return [v for row in data for v in row]
    return data


def _requested_outputs(outputs: Any) -> tuple[str, ...] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise InputError("bad_request", "'outputs' must be a list of objects with a 'name'")
    return tuple(o["name"] for o in outputs)
