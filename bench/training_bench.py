"""Training benchmark: CPU `hist` against CUDA, and the trainer against a bare `xgboost.train`.

One data set (the trainer's `builtin:loan-default`, written once to Parquet so that every
run reads the same bytes), one set of parameters, run on each device:

- **bare**: what a user writes by hand: read the Parquet file with pandas, the same
  stratified 70/15/15 split, `DMatrix(enable_categorical=True)`, `xgboost.train` with early
  stopping on the validation split, ROC AUC on the test split;
- **trainer**: `modelrelease_trainer.training.run` on the same file and parameters: the
  same steps plus feature checks, evaluation (all metrics), the reference histograms and
  the artifact written with its digest.

It prints, per device, medians of `--repeats` runs: the bare run's phases, the trainer's
wall time, the trainer's overhead over bare (`trainer / bare - 1`), and the test ROC AUC of
both; then CUDA against CPU (speed-up of `xgboost.train`, of the whole trainer, and the
AUC difference). CUDA runs only where XGBoost sees a GPU.

    .venv/bin/python bench/training_bench.py                 # 1M rows, 3 repeats
    .venv/bin/python bench/training_bench.py --rows 200000 --repeats 1 --devices cpu
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "training-image"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xgboost as xgb  # noqa: E402
from modelrelease_trainer import loan_default, training  # noqa: E402
from modelrelease_trainer.config import TrainerConfig  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

SEED = 42
LABEL = loan_default.LABEL
#: The trainer's defaults for a binary task (hyperparameters.defaults), spelled out so
#: the bare run trains exactly the same model.
PARAMS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "tree_method": "hist",
    "max_depth": 6,
    "learning_rate": 0.1,
    "subsample": 0.9,
    "colsample_bytree": 0.9,
    "min_child_weight": 1.0,
    "seed": SEED,
    "verbosity": 1,
}
ROUNDS, PATIENCE = 500, 30


def dataset(rows: int, cache: Path) -> Path:
    path = cache / f"loan-default-{rows}.parquet"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        loan_default.generate(rows, seed=SEED).to_parquet(path, index=False)
    return path


def bare(path: Path, device: str) -> dict[str, float]:
    """The hand-written baseline; seconds per phase and the test AUC."""
    started = time.perf_counter()
    frame = pd.read_parquet(path)
    read = time.perf_counter()
    y = frame.pop(LABEL).to_numpy()
    for column in frame.select_dtypes(exclude="number").columns:
        frame[column] = frame[column].astype("category")
    x_train, rest, y_train, y_rest = train_test_split(
        frame, y, test_size=0.3, random_state=SEED, stratify=y
    )
    x_val, x_test, y_val, y_test = train_test_split(
        rest, y_rest, test_size=0.5, random_state=SEED, stratify=y_rest
    )
    dtrain = xgb.DMatrix(x_train, label=y_train, enable_categorical=True)
    dval = xgb.DMatrix(x_val, label=y_val, enable_categorical=True)
    dtest = xgb.DMatrix(x_test, label=y_test, enable_categorical=True)
    prepared = time.perf_counter()
    booster = xgb.train(
        {**PARAMS, "device": device},
        dtrain,
        num_boost_round=ROUNDS,
        evals=[(dval, "validation")],
        early_stopping_rounds=PATIENCE,
        verbose_eval=False,
    )
    trained = time.perf_counter()
    scores = booster.predict(dtest, iteration_range=(0, booster.best_iteration + 1))
    auc = float(roc_auc_score(y_test, scores))
    done = time.perf_counter()
    return {
        "read": read - started,
        "prepare": prepared - read,
        "train": trained - prepared,
        "evaluate": done - trained,
        "total": done - started,
        "iterations": booster.best_iteration + 1,
        "roc_auc": auc,
    }


def trainer(path: Path, device: str, output: Path) -> dict[str, float]:
    config = TrainerConfig.model_validate(
        {
            "modelName": "loan-default",
            "version": "bench",
            "task": "binary",
            "dataset": {"uri": str(path), "labelColumn": LABEL, "seed": SEED},
            "hyperparameters": {"num_boost_round": ROUNDS, "early_stopping_rounds": PATIENCE},
            "device": device,
            "output": {"path": str(output)},
            "terminationMessagePath": str(output / "termination-log"),
        }
    )
    started = time.perf_counter()
    summary = training.run(config)
    total = time.perf_counter() - started
    return {
        "total": total,
        "iterations": summary["bestIteration"] + 1,
        "roc_auc": summary["metrics"]["roc_auc"],
    }


def has_gpu() -> bool:
    if not xgb.build_info().get("USE_CUDA"):
        return False
    probe = xgb.DMatrix(np.zeros((2, 1)), label=[0, 1])
    with warnings.catch_warnings():
        # Without a GPU XGBoost warns and trains on the CPU; the saved config says which.
        warnings.simplefilter("ignore")
        booster = xgb.train({"device": "cuda", "tree_method": "hist"}, probe, num_boost_round=1)
    return str(json.loads(booster.save_config())["learner"]["generic_param"]["device"]).startswith(
        "cuda"
    )


def gpu_name() -> str:
    try:
        return subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown GPU"


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def measure(path: Path, device: str, repeats: int) -> dict[str, dict[str, float]]:
    # One untimed run of each: the first pays for imports, CUDA context and kernels.
    with tempfile.TemporaryDirectory() as scratch:
        bare(path, device)
        trainer(path, device, Path(scratch) / "warm-up")
        bare_runs, trainer_runs = [], []
        for index in range(repeats):
            # Alternate so that machine noise hits both alike.
            bare_runs.append(bare(path, device))
            trainer_runs.append(trainer(path, device, Path(scratch) / f"run-{index}"))
    return {"bare": median_of(bare_runs), "trainer": median_of(trainer_runs)}


def report(rows: int, results: dict[str, dict[str, dict[str, float]]], machine: str) -> None:
    print(f"\nloan-default, {rows} rows, 13 features (3 categorical); {machine}")
    print(f"params: {json.dumps(PARAMS)}, rounds {ROUNDS}, early stopping {PATIENCE}\n")
    header = (
        "| device | bare read / prepare / train / evaluate s | bare total s | trainer total s "
        "| trainer/bare | iterations | bare AUC | trainer AUC |"
    )
    print(header)
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for device, result in results.items():
        b, t = result["bare"], result["trainer"]
        phases = " / ".join(f"{b[key]:.2f}" for key in ("read", "prepare", "train", "evaluate"))
        print(
            f"| {device} | {phases} | {b['total']:.2f} | {t['total']:.2f} "
            f"| {t['total'] / b['total']:.3f} ({100 * (t['total'] / b['total'] - 1):+.1f} %) "
            f"| {int(b['iterations'])} / {int(t['iterations'])} "
            f"| {b['roc_auc']:.4f} | {t['roc_auc']:.4f} |"
        )
    if "cuda" in results and "cpu" in results:
        cpu, cuda = results["cpu"], results["cuda"]
        train = cpu["bare"]["train"] / cuda["bare"]["train"]
        per_iteration = (cpu["bare"]["train"] / cpu["bare"]["iterations"]) / (
            cuda["bare"]["train"] / cuda["bare"]["iterations"]
        )
        whole = cpu["trainer"]["total"] / cuda["trainer"]["total"]
        auc = cuda["trainer"]["roc_auc"] - cpu["trainer"]["roc_auc"]
        print(
            f"\nCUDA against CPU hist: xgboost.train {train:.2f}x faster "
            f"({per_iteration:.2f}x per iteration), whole trainer {whole:.2f}x; "
            f"ROC AUC difference (cuda - cpu) {auc:+.4f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--devices", default="cpu,cuda", help="cuda is skipped without a GPU")
    parser.add_argument("--cache", type=Path, default=REPO / ".cache" / "bench" / "training")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    path = dataset(args.rows, args.cache)
    gpu = has_gpu()
    results: dict[str, dict[str, dict[str, float]]] = {}
    for device in args.devices.split(","):
        if device == "cuda" and not gpu:
            print("cuda: no GPU visible to XGBoost; skipped", file=sys.stderr)
            continue
        results[device] = measure(path, device, args.repeats)
        print(f"{device}: {json.dumps(results[device])}", file=sys.stderr, flush=True)
    machine = (
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"xgboost {xgb.__version__}" + (f", GPU: {gpu_name()}" if gpu else ", no GPU")
    )
    report(args.rows, results, machine)
    if args.json:
        args.json.write_text(json.dumps({"rows": args.rows, "machine": machine, **results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
