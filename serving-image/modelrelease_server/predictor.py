"""Run the booster on a float32 matrix and turn its output into scores and labels."""

from __future__ import annotations

import ctypes
import json
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import xgboost as xgb

from .artifact import Artifact
from .batching import Batcher

Matrix = npt.NDArray[np.float32]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """The model's answer for N records."""

    raw: npt.NDArray[Any]  # booster output: (N,) probabilities/values or (N, K) probabilities
    scores: npt.NDArray[Any]  # (N,) the score the drift histogram watches
    class_index: npt.NDArray[np.intp] | None  # (N,) predicted class index; None: regression


class DenseCall:
    """XGBoosterPredictFromDense called directly through xgboost's own library handle.

    `Booster.inplace_predict` spends about as long in Python (type dispatch, JSON of the
    arguments, wrapping the output) as the C call takes for a single record; here the
    arguments are prepared once. The C function is part of XGBoost's stable C API.
    """

    def __init__(self, booster: xgb.Booster) -> None:
        from xgboost.core import _LIB

        self._booster = booster  # keeps the handle alive
        self._handle = booster.handle
        self._function = _LIB.XGBoosterPredictFromDense
        self._error = _LIB.XGBGetLastError
        self._error.restype = ctypes.c_char_p
        self._ulong = ctypes.c_uint64  # XGBoost's bst_ulong
        self._config = json.dumps(
            {
                "type": 0,
                "training": False,
                "iteration_begin": 0,
                "iteration_end": 0,
                "missing": math.nan,
                "strict_shape": False,
                "cache_id": 0,
            }
        ).encode()
        self._no_proxy = ctypes.c_void_p()

    def __call__(self, matrix: Matrix) -> npt.NDArray[np.float32]:
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        rows, width = matrix.shape
        interface = b'{"data": [%d, true], "shape": [%d, %d], "typestr": "<f4", "version": 3}' % (
            matrix.__array_interface__["data"][0],
            rows,
            width,
        )
        shape = ctypes.POINTER(self._ulong)()
        dims = self._ulong()
        out = ctypes.POINTER(ctypes.c_float)()
        status = self._function(
            self._handle,
            interface,
            self._config,
            self._no_proxy,
            ctypes.byref(shape),
            ctypes.byref(dims),
            ctypes.byref(out),
        )
        if status != 0:
            raise xgb.core.XGBoostError(self._error().decode())
        out_shape = [int(shape[i]) for i in range(dims.value)]
        size = math.prod(out_shape)
        # The output buffer belongs to the booster and is reused by the next call: copy it.
        values = np.frombuffer(ctypes.string_at(out, size * 4), dtype=np.float32)
        return values.reshape(out_shape)


class Predictor:
    """Wraps the booster; one instance per process."""

    def __init__(
        self,
        artifact: Artifact,
        threshold: float = 0.5,
        *,
        batching: bool = True,
        batch_window: float = 0.0,
        max_batch_rows: int = 512,
    ) -> None:
        self.artifact = artifact
        self.task = artifact.task
        self.threshold = threshold
        self.classes = artifact.classes
        self._run = self._fastest(artifact.booster, len(artifact.features))
        self._batcher = Batcher(self._run, batch_window, max_batch_rows) if batching else None

    @staticmethod
    def _fastest(booster: xgb.Booster, width: int) -> Any:
        def fallback(matrix: Matrix) -> npt.NDArray[Any]:
            return booster.inplace_predict(matrix, validate_features=False)

        # Only trust the direct call if it gives inplace_predict's answers on probe rows.
        probe = np.random.default_rng(0).uniform(0, 5, (3, width)).astype(np.float32)
        probe[1, :] = np.nan
        try:
            direct = DenseCall(booster)
            if np.array_equal(direct(probe), fallback(probe)):
                return direct
        except Exception:  # any mismatch of library internals: use the public API
            log.warning("direct prediction call unavailable; using Booster.inplace_predict")
        return fallback

    async def predict(self, matrix: Matrix) -> Prediction:
        if self._batcher is None:
            return self._interpret(matrix, self._run(matrix))
        return self._interpret(matrix, await self._batcher(matrix))

    def _interpret(self, matrix: Matrix, raw: npt.NDArray[Any]) -> Prediction:
        if self.task == "binary":
            scores = raw.reshape(-1)
            index = (scores >= self.threshold).astype(np.intp)
            return Prediction(raw=scores, scores=scores, class_index=index)
        if self.task == "multiclass":
            raw = raw.reshape(matrix.shape[0], -1)
            index = raw.argmax(axis=1)
            top = raw[np.arange(raw.shape[0]), index]
            return Prediction(raw=raw, scores=top, class_index=index)
        scores = raw.reshape(-1)
        return Prediction(raw=scores, scores=scores, class_index=None)

    def labels(self, prediction: Prediction) -> list[Any]:
        """The predicted label values (model card `classes`), or the predictions."""
        if prediction.class_index is None:
            values: list[Any] = prediction.scores.tolist()
            return values
        classes = self.classes
        return [classes[i] for i in prediction.class_index.tolist()]

    def probabilities(self, prediction: Prediction) -> npt.NDArray[Any]:
        """(N, K) class probabilities for classification models."""
        if self.task == "binary":
            return np.stack([1.0 - prediction.raw, prediction.raw], axis=1)
        return prediction.raw
