"""XGBoost parameters: defaults per task, and a refusal of names XGBoost would ignore."""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import xgboost as xgb

from .errors import NoGpu, TrainerError

#: Parameters of the boosting loop rather than of the booster.
LOOP_PARAMETERS = {"num_boost_round": 500, "early_stopping_rounds": 30}
#: Names XGBoost accepts but stores under another name in its configuration.
ALIASES = {
    "eta": "learning_rate",
    "gamma": "min_split_loss",
    "lambda": "reg_lambda",
    "alpha": "reg_alpha",
    "random_state": "seed",
    "n_jobs": "nthread",
}
#: Accepted but not echoed in the saved configuration.
UNLISTED = {"eval_metric", "verbosity", "validate_parameters", "disable_default_eval_metric"}


def defaults(task: str, classes: int, device: str, seed: int) -> dict[str, Any]:
    objective = {
        "binary": "binary:logistic",
        "multiclass": "multi:softprob",
        "regression": "reg:squarederror",
    }[task]
    params: dict[str, Any] = {
        "objective": objective,
        "eval_metric": {"binary": "logloss", "multiclass": "mlogloss"}.get(task, "rmse"),
        "tree_method": "hist",
        "device": device,
        "max_depth": 6,
        "learning_rate": 0.1,
        "subsample": 0.9,
        "colsample_bytree": 0.9,
        "min_child_weight": 1.0,
        "seed": seed,
        "verbosity": 1,
    }
    if task == "multiclass":
        params["num_class"] = classes
    return params


def _config_keys(node: Any, into: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            into.add(key)
            _config_keys(value, into)
    elif isinstance(node, list):
        for value in node:
            _config_keys(value, into)
    return into


def split_loop(given: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
    """Booster parameters, rounds, and early-stopping rounds."""
    booster = {k: v for k, v in given.items() if k not in LOOP_PARAMETERS and k != "n_estimators"}
    rounds = int(given.get("num_boost_round", given.get("n_estimators", 500)))
    patience = int(given.get("early_stopping_rounds", 30))
    if rounds < 1 or patience < 1:
        raise TrainerError(
            "hyperparameters: num_boost_round and early_stopping_rounds must be >= 1"
        )
    return booster, rounds, patience


def check_known(params: dict[str, Any], sample: xgb.DMatrix) -> None:
    """Refuse names that XGBoost would silently ignore (a typo must not train a default model)."""
    try:
        with warnings.catch_warnings():
            # XGBoost warns about the very names this check turns into an error.
            warnings.simplefilter("ignore")
            booster = xgb.train({**params, "verbosity": 0}, sample, num_boost_round=1)
    except xgb.core.XGBoostError as error:
        reason = str(error).splitlines()[0]
        raise TrainerError(f"hyperparameters: XGBoost refused them: {reason}") from error
    config = json.loads(booster.save_config())
    # Without a GPU XGBoost only warns and trains on the CPU: a GPU training would then
    # take hours on a node sized for minutes, and its card would say cuda.
    used = str(config["learner"]["generic_param"].get("device", "cpu"))
    if str(params.get("device", "cpu")).startswith("cuda") and not used.startswith("cuda"):
        raise NoGpu(
            "device: the training asks for CUDA but XGBoost sees no GPU on this node "
            "(check the NVIDIA driver and device plugin); not training on the CPU instead"
        )
    known = _config_keys(config, set())
    unknown = sorted(
        name for name in params if name not in UNLISTED and ALIASES.get(name, name) not in known
    )
    if unknown:
        raise TrainerError(f"hyperparameters: unknown to XGBoost: {', '.join(unknown)}")


def tiny_sample(x: np.ndarray, y: np.ndarray, types: list[str]) -> xgb.DMatrix:
    rows = min(len(x), 64)
    return xgb.DMatrix(x[:rows], label=y[:rows], feature_types=types, enable_categorical=True)
