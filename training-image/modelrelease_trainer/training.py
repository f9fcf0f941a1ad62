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

from . import artifacts, datasets, distributed, evaluation, features, hyperparameters
from .config import TrainerConfig
from .errors import TrainerError

MIN_ROWS_PER_SPLIT = 10
#: Training rows whose scores set regression's score edges (the split is shuffled).
REFERENCE_SAMPLE = 100_000


def _split(
    rows: int, y: np.ndarray, config: TrainerConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of the train, validation and test splits. Splitting indices picks the
    same rows as splitting the table, without copying its text columns three times."""
    split, seed = config.dataset.split, config.dataset.seed
    stratify = config.task != "regression" and config.dataset.stratify
    held_out = split.validation + split.test
    try:
        train, rest, _, y_rest = train_test_split(
            np.arange(rows),
            y,
            test_size=held_out,
            random_state=seed,
            stratify=y if stratify else None,
        )
        validation, test = train_test_split(
            rest,
            test_size=split.test / held_out,
            random_state=seed,
            stratify=y_rest if stratify else None,
        )
    except ValueError as error:
        raise TrainerError(f"dataset: cannot split {rows} rows: {error}") from error
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        if len(part) < MIN_ROWS_PER_SPLIT:
            raise TrainerError(
                f"dataset: the {name} split has {len(part)} rows; "
                f"at least {MIN_ROWS_PER_SPLIT} needed"
            )
    return train, validation, test


def run(config: TrainerConfig) -> dict[str, Any]:
    """Train and write everything; returns the summary for the termination message."""
    started = time.monotonic()
    worker = distributed.join(config)
    source = datasets.read(config.dataset.uri, config.dataset.format, config.dataset.sha256)
    frame = source.frame
    if frame.empty:
        raise TrainerError(f"dataset {config.dataset.uri}: no rows")
    columns = features.describe(
        frame,
        config.dataset.label_column,
        config.dataset.feature_columns,
        config.dataset.categorical_columns,
        config.dataset.max_categories,
    )
    y, classes = features.encode_labels(frame[config.dataset.label_column], config.task)
    train, validation, test = _split(len(frame), y, config)
    # Encoded once for the whole table (categories to codes is the costly part), then split.
    x_all = features.matrix(frame, columns)
    x_train, x_val, x_test = x_all[train], x_all[validation], x_all[test]
    y_train, y_val, y_test = y[train], y[validation], y[test]
    del x_all
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
    booster = distributed.train(
        worker,
        params,
        rounds,
        patience,
        whole=(dtrain, dval),
        matrix=matrix,
        train_rows=(x_train, y_train),
        validation_rows=(x_val, y_val),
    )
    if worker is not None and not worker.leader:
        return distributed.summary(worker, booster, len(train))
    best = booster.best_iteration
    window = (0, best + 1)
    test_out = booster.predict(dtest, iteration_range=window)
    # Only regression's score edges (quantiles) need training scores, and a sample gives the
    # same quantiles: predicting the whole training split cost ~10 % of a 1M-row run.
    train_out = (
        booster.predict(
            dtrain.slice(np.arange(min(dtrain.num_row(), REFERENCE_SAMPLE))),
            iteration_range=window,
        )
        if config.task == "regression"
        else np.empty(0)
    )
    if config.task == "regression":
        metrics = evaluation.regression(y_test, test_out)
    else:
        metrics = evaluation.classification(y_test, test_out, len(classes or []))
    # Serve exactly the iterations that were evaluated.
    booster = booster[: best + 1]
    model_bytes = bytes(booster.save_raw(raw_format="ubj"))
    test_scores = evaluation.scores(test_out, config.task)
    reference = evaluation.reference(
        config.task,
        test_scores,
        evaluation.scores(train_out, config.task) if train_out.size else train_out,
        x_train,
        columns,
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
            # What dataset.sha256 pins: the file's bytes (what sha256sum prints), or a
            # built-in table's content. Not a second digest of the parsed table: hashing
            # every cell again cost ~10 % of a 1M-row training.
            "sha256": f"sha256:{source.sha256}",
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
        "dataset": {"sha256": source.sha256},
        "bestIteration": best,
        "scoreReference": {
            "edges": reference["score"]["edges"],
            "counts": reference["score"]["counts"],
        },
    }
