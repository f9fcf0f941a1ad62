"""Load, split, train with early stopping, evaluate, and write the artifact."""

from __future__ import annotations

import platform
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import xgboost as xgb
from sklearn.model_selection import train_test_split

from . import artifacts, datasets, evaluation, features, hyperparameters
from .config import TrainerConfig
from .errors import TrainerError

MIN_ROWS_PER_SPLIT = 10


def _split(
    frame: pd.DataFrame, y: np.ndarray, config: TrainerConfig
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    split, seed = config.dataset.split, config.dataset.seed
    stratify = config.task != "regression" and config.dataset.stratify
    held_out = split.validation + split.test
    try:
        train, rest, y_train, y_rest = train_test_split(
            frame, y, test_size=held_out, random_state=seed, stratify=y if stratify else None
        )
        validation, test, y_val, y_test = train_test_split(
            rest,
            y_rest,
            test_size=split.test / held_out,
            random_state=seed,
            stratify=y_rest if stratify else None,
        )
    except ValueError as error:
        raise TrainerError(f"dataset: cannot split {len(frame)} rows: {error}") from error
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        if len(part) < MIN_ROWS_PER_SPLIT:
            raise TrainerError(
                f"dataset: the {name} split has {len(part)} rows; "
                f"at least {MIN_ROWS_PER_SPLIT} needed"
            )
    return train, validation, test, y_train, y_val, y_test


def run(config: TrainerConfig) -> dict[str, Any]:
    """Train and write everything; returns the summary for the termination message."""
    started = time.monotonic()
    frame = datasets.load(config.dataset.uri, config.dataset.format)
    if frame.empty:
        raise TrainerError(f"dataset {config.dataset.uri}: no rows")
    columns = features.describe(frame, config.dataset.label_column, config.dataset.feature_columns)
    y, classes = features.encode_labels(frame[config.dataset.label_column], config.task)
    train, validation, test, y_train, y_val, y_test = _split(frame, y, config)
    x_train, x_val, x_test = (features.matrix(part, columns) for part in (train, validation, test))
    types = features.feature_types(columns)
    names = [f.name for f in columns]

    params = hyperparameters.defaults(
        config.task, len(classes or []), config.device, config.dataset.seed
    )
    given, rounds, patience = hyperparameters.split_loop(config.hyperparameters)
    params.update(given)
    params["device"] = config.device  # the operator decides where it runs
    hyperparameters.check_known(params, hyperparameters.tiny_sample(x_train, y_train, types))

    def matrix(x: np.ndarray, label: np.ndarray) -> xgb.DMatrix:
        return xgb.DMatrix(
            x, label=label, feature_names=names, feature_types=types, enable_categorical=True
        )

    dtrain, dval, dtest = matrix(x_train, y_train), matrix(x_val, y_val), matrix(x_test, y_test)
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=rounds,
        evals=[(dval, "validation")],
        early_stopping_rounds=patience,
        verbose_eval=False,
    )
    best = booster.best_iteration
    window = (0, best + 1)
    test_out = booster.predict(dtest, iteration_range=window)
    train_out = booster.predict(dtrain, iteration_range=window)
    if config.task == "regression":
        metrics = evaluation.regression(y_test, test_out)
    else:
        metrics = evaluation.classification(y_test, test_out, len(classes or []))
    # Serve exactly the iterations that were evaluated.
    booster = booster[: best + 1]
    model_bytes = bytes(booster.save_raw(raw_format="ubj"))
    test_scores = evaluation.scores(test_out, config.task)
    reference = evaluation.reference(
        config.task, test_scores, evaluation.scores(train_out, config.task), x_train, columns
    )
    uri = config.output.uri or config.output.path
    card = {
        "name": config.model_name,
        "version": config.version,
        "task": config.task,
        "label": config.dataset.label_column,
        "classes": classes,
        "features": [f.card() for f in columns],
        "params": params,
        "numBoostRound": rounds,
        "earlyStoppingRounds": patience,
        "bestIteration": best,
        "device": config.device,
        "dataset": {
            "uri": config.dataset.uri,
            "sha256": datasets.digest(frame),
            "rows": {"train": len(train), "validation": len(validation), "test": len(test)},
            "seed": config.dataset.seed,
        },
        "metrics": metrics,
        "modelSha256": artifacts.sha256_hex(model_bytes),  # model.ubj alone
        "libraries": {
            "xgboost": xgb.__version__,
            "scikit-learn": sklearn.__version__,
            "pandas": pd.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "trainingSeconds": round(time.monotonic() - started, 3),
        "createdAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    # The digest covers every file the server reads (docs/artifacts.md).
    files, digest = artifacts.with_digest(
        {
            artifacts.MODEL_FILE: model_bytes,
            "metrics.json": artifacts.as_json(metrics),
            artifacts.REFERENCE_FILE: artifacts.as_json(reference),
            artifacts.CARD_FILE: artifacts.as_json(card),
        }
    )
    artifacts.write(config.output.path, files)
    return {
        "metrics": metrics,
        "artifactUri": uri,
        "digest": f"sha256:{digest}",
        "modelVersion": config.version,
        "bestIteration": best,
        "scoreReference": {
            "edges": reference["score"]["edges"],
            "counts": reference["score"]["counts"],
        },
    }
