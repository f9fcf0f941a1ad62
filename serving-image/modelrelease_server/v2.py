"""Open Inference Protocol V2 documents: model metadata and output tensors."""

from __future__ import annotations

from typing import Any

from .artifact import Artifact
from .inputs import InputError
from .predictor import Prediction, Predictor


def output(name: str, predictor: Predictor, prediction: Prediction, rows: int) -> dict[str, Any]:
    """One V2 output tensor; `data` stays a NumPy array for orjson to write."""
    if name == "predict":
        data = prediction.raw
        # MLServer's NumpyCodec sends 1-D predictions as [N, 1]; clients expect that shape.
        shape = [rows, 1] if data.ndim == 1 else list(data.shape)
        return {
            "name": name,
            "shape": shape,
            "datatype": "FP32",
            "data": data.reshape(-1),
        }
    if name == "predict_proba" and predictor.task != "regression":
        data = predictor.probabilities(prediction)
        return {
            "name": name,
            "shape": list(data.shape),
            "datatype": "FP32",
            "data": data.reshape(-1),
        }
    if name == "label":
        labels = predictor.labels(prediction)
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in labels)
        datatype = "FP32" if predictor.task == "regression" else "INT64" if numeric else "BYTES"
        return {"name": name, "shape": [rows], "datatype": datatype, "data": labels}
    allowed = "predict, label" + (", predict_proba" if predictor.task != "regression" else "")
    raise InputError("unknown_output", f"unknown output {name!r}; this model has {allowed}")


def metadata(model: Artifact, name: str, version: str) -> dict[str, Any]:
    """The V2 model metadata: both input layouts, the outputs, and what the card says."""
    width = len(model.features)
    outputs: list[dict[str, Any]] = [
        {
            "name": "predict",
            "datatype": "FP32",
            "shape": [-1, 1] if model.task != "multiclass" else [-1, len(model.classes)],
        },
        {
            "name": "label",
            "datatype": "FP32" if model.task == "regression" else "INT64",
            "shape": [-1],
        },
    ]
    if model.task != "regression":
        outputs.append(
            {"name": "predict_proba", "datatype": "FP32", "shape": [-1, len(model.classes)]}
        )
    return {
        "name": name,
        "versions": [version],
        "platform": "xgboost",
        "inputs": [
            {"name": "input-0", "datatype": "FP32", "shape": [-1, width]},
            *(
                {
                    "name": f.name,
                    "datatype": "BYTES" if f.categorical else "FP32",
                    "shape": [-1],
                    **(
                        {"parameters": {"categories": list(f.categories or ())}}
                        if f.categorical
                        else {}
                    ),
                }
                for f in model.features
            ),
        ],
        "outputs": outputs,
        "parameters": {
            "task": model.task,
            "features": [f.name for f in model.features],
            "classes": list(model.classes),
            "digest": f"sha256:{model.digest}",
        },
    }
