"""The real trainer, run as a process on built-in data."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from tests.conftest import REPO, train


def run_trainer(tmp_path: Path, config: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, "-m", "modelrelease_trainer", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "modelName": "m",
        "version": "v1",
        "task": "binary",
        "dataset": {"uri": "builtin:loan-default?rows=3000&seed=3", "labelColumn": "default"},
        "output": {"path": str(tmp_path / "out")},
        "terminationMessagePath": str(tmp_path / "termination-log"),
    }
    document.update(overrides)
    return document


def test_loan_default_reaches_the_documented_quality(loan_default_artifact: Path) -> None:
    metrics = json.loads((loan_default_artifact / "metrics.json").read_text())
    assert metrics["roc_auc"] >= 0.80
    assert set(metrics) == {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
        "confusion_matrix",
    }
    matrix = np.array(metrics["confusion_matrix"])
    card = json.loads((loan_default_artifact / "model-card.json").read_text())
    assert matrix.sum() == card["dataset"]["rows"]["test"]
    assert matrix.shape == (2, 2)


def test_a_constant_predictor_scores_about_one_half(loan_default_artifact: Path) -> None:
    # The same AUC routine on a constant score: the metric is computed honestly.
    card = json.loads((loan_default_artifact / "model-card.json").read_text())
    rng = np.random.default_rng(0)
    labels = rng.random(card["dataset"]["rows"]["test"]) < 0.1
    assert roc_auc_score(labels, np.full(len(labels), 0.3)) == pytest.approx(0.5)


#: What the artifact digest covers, in the order docs/artifacts.md lists them.
COVERED = ("model-card.json", "model.ubj", "reference.json")


def digest_by_hand(folder: Path) -> str:
    """docs/artifacts.md's recipe, in Python: the sha256 of `sha256sum`'s listing."""
    listing = "".join(
        f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}\n" for name in COVERED
    )
    return hashlib.sha256(listing.encode()).hexdigest()


def test_artifact_files_digest_and_card(loan_default_artifact: Path) -> None:
    names = {p.name for p in loan_default_artifact.iterdir()}
    assert names == {
        "model.ubj",
        "model.sha256",
        "SHA256SUMS",
        "metrics.json",
        "reference.json",
        "model-card.json",
    }
    digest = digest_by_hand(loan_default_artifact)
    assert (loan_default_artifact / "model.sha256").read_text() == digest + "\n"
    sums = (loan_default_artifact / "SHA256SUMS").read_bytes()
    assert hashlib.sha256(sums).hexdigest() == digest
    card = json.loads((loan_default_artifact / "model-card.json").read_text())
    model = hashlib.sha256((loan_default_artifact / "model.ubj").read_bytes()).hexdigest()
    assert card["modelSha256"] == model != digest
    assert card["dataset"]["sha256"].startswith("sha256:")
    assert card["params"]["tree_method"] == "hist" and card["params"]["device"] == "cpu"
    assert {"xgboost", "scikit-learn", "python"} <= set(card["libraries"])
    kinds = {f["name"]: f["type"] for f in card["features"]}
    assert kinds["purpose"] == "categorical" and kinds["income"] == "numeric"


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs coreutils' sha256sum")
def test_the_digest_is_the_documented_shell_one_liner(loan_default_artifact: Path) -> None:
    def shell(command: str) -> str:
        return subprocess.run(
            ["sh", "-c", command],
            cwd=loan_default_artifact,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    # docs/artifacts.md, verbatim apart from the folder.
    by_hand = shell("sha256sum model-card.json model.ubj reference.json | sha256sum")
    assert by_hand == (loan_default_artifact / "model.sha256").read_text().strip() + "  -\n"
    assert shell("sha256sum -c SHA256SUMS").splitlines() == [f"{name}: OK" for name in COVERED]


def test_model_file_predicts_what_the_metrics_say(loan_default_artifact: Path) -> None:
    booster = xgb.Booster()
    booster.load_model(str(loan_default_artifact / "model.ubj"))
    card = json.loads((loan_default_artifact / "model-card.json").read_text())
    assert booster.num_features() == len(card["features"])
    reference = json.loads((loan_default_artifact / "reference.json").read_text())
    score = reference["score"]
    assert len(score["counts"]) == len(score["edges"]) + 1
    assert sum(score["counts"]) == score["total"] == card["dataset"]["rows"]["test"]
    assert set(reference["features"]) == {f["name"] for f in card["features"]}


def test_termination_message_is_a_compact_summary(tmp_path: Path) -> None:
    result = run_trainer(tmp_path, config(tmp_path))
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "termination-log").read_text())
    assert summary["digest"] == "sha256:" + (tmp_path / "out" / "model.sha256").read_text().strip()
    assert summary["artifactUri"] == str(tmp_path / "out")
    assert len((tmp_path / "termination-log").read_bytes()) <= 4096
    reference = json.loads((tmp_path / "out" / "reference.json").read_text())["score"]
    assert summary["scoreReference"] == {"edges": reference["edges"], "counts": reference["counts"]}
    assert json.loads(result.stdout)["metrics"]["roc_auc"] == summary["metrics"]["roc_auc"]


def test_same_seed_same_model(tmp_path: Path) -> None:
    first = train(tmp_path / "a", "builtin:loan-default?rows=2000&seed=5")
    second = train(tmp_path / "b", "builtin:loan-default?rows=2000&seed=5")
    assert (first / "model.ubj").read_bytes() == (second / "model.ubj").read_bytes()
    # The artifact digest also covers the card, whose createdAt and trainingSeconds differ.
    cards = [json.loads((folder / "model-card.json").read_text()) for folder in (first, second)]
    assert cards[0]["modelSha256"] == cards[1]["modelSha256"]
    assert (first / "reference.json").read_bytes() == (second / "reference.json").read_bytes()


def test_multiclass_and_regression_on_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(900, 3))
    table = tmp_path / "data.csv"
    lines = ["a,b,c,kind,amount"] + [
        f"{a:.4f},{b:.4f},{c:.4f},{'xyz'[int(a > 0) + int(b > 0.5)]},{amount:.4f}"
        for (a, b, c), amount in zip(
            x, 3 * x[:, 0] - x[:, 1] + rng.normal(0, 0.1, 900), strict=True
        )
    ]
    table.write_text("\n".join(lines) + "\n")
    multi = run_trainer(
        tmp_path,
        config(
            tmp_path,
            task="multiclass",
            dataset={
                "uri": f"file://{table}",
                "labelColumn": "kind",
                "featureColumns": ["a", "b", "c"],
            },
        ),
    )
    assert multi.returncode == 0, multi.stderr
    metrics = json.loads(multi.stdout)["metrics"]
    assert metrics["roc_auc"] > 0.9 and np.array(metrics["confusion_matrix"]).shape == (3, 3)
    regression = run_trainer(
        tmp_path,
        config(
            tmp_path,
            task="regression",
            dataset={"uri": str(table), "labelColumn": "amount", "featureColumns": ["a", "b", "c"]},
        ),
    )
    assert regression.returncode == 0, regression.stderr
    assert json.loads(regression.stdout)["metrics"]["r2"] > 0.9


def test_parquet_over_http(tmp_path: Path) -> None:
    import http.server
    import threading

    import pandas as pd
    from modelrelease_trainer.loan_default import generate

    generate(1500, 2).to_parquet(tmp_path / "loans.parquet")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}/loans.parquet"
        result = run_trainer(
            tmp_path, config(tmp_path, dataset={"uri": uri, "labelColumn": "default"})
        )
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr
    assert pd.read_parquet(tmp_path / "loans.parquet").shape[0] == 1500


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {"dataset": {"uri": "/nonexistent/table.csv", "labelColumn": "y"}},
            "error: dataset /nonexistent/table.csv: not found",
            id="unreadable-uri",
        ),
        pytest.param(
            {"dataset": {"uri": "builtin:loan-default?rows=500", "labelColumn": "risk"}},
            "error: dataset: label column 'risk' not found",
            id="missing-label",
        ),
        pytest.param(
            {"dataset": {"uri": "builtin:nope", "labelColumn": "y"}},
            "error: dataset builtin:nope: unknown built-in data set",
            id="unknown-builtin",
        ),
        pytest.param(
            {"hyperparameters": {"max_depht": 4}},
            "error: hyperparameters: unknown to XGBoost: max_depht",
            id="unknown-param",
        ),
        pytest.param({"task": "classify"}, "error: config: task:", id="bad-task"),
    ],
)
def test_bad_input_exits_non_zero_with_one_clear_line(
    tmp_path: Path, overrides: dict[str, Any], expected: str
) -> None:
    result = run_trainer(tmp_path, config(tmp_path, **overrides))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), result.stderr
    assert json.loads((tmp_path / "termination-log").read_text())["error"] in lines[0]


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        pytest.param("a,y\n", "error: dataset", id="empty"),
        pytest.param(
            "a,y\n" + "".join(f"{i},1\n" for i in range(60)),
            "has a single class",
            id="single-class",
        ),
    ],
)
def test_degenerate_tables_are_refused(tmp_path: Path, table: str, expected: str) -> None:
    (tmp_path / "t.csv").write_text(table)
    result = run_trainer(
        tmp_path, config(tmp_path, dataset={"uri": str(tmp_path / "t.csv"), "labelColumn": "y"})
    )
    assert result.returncode == 2
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_example_manifest_trains_as_a_plain_process(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelrelease_trainer",
            "--config",
            str(REPO / "manifests/examples/training-loan-default.yaml"),
            "--output",
            str(tmp_path / "out"),
            "--termination-log",
            str(tmp_path / "log"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["metrics"]["roc_auc"] >= 0.80


def _gpu_visible() -> bool:
    import xgboost as xgb

    probe = xgb.DMatrix([[0.0], [1.0]], label=[0, 1])
    booster = xgb.train({"device": "cuda", "verbosity": 0}, probe, num_boost_round=1)
    used = json.loads(booster.save_config())["learner"]["generic_param"]["device"]
    return str(used).startswith("cuda")


def test_a_gpu_training_without_a_gpu_fails_instead_of_training_on_the_cpu(
    tmp_path: Path,
) -> None:
    """XGBoost only warns and trains on the CPU; the trainer exits 1 (the node's fault, so
    the Job may retry elsewhere; 2 would fail the Job at once) with the reason."""
    if _gpu_visible():
        pytest.skip("a GPU is visible here: the training would run on it")
    result = run_trainer(tmp_path, config(tmp_path, device="cuda"))
    assert result.returncode == 1, result.stderr
    assert "asks for CUDA but XGBoost sees no GPU" in result.stderr
    assert json.loads((tmp_path / "termination-log").read_text())["error"].startswith("device:")
    assert not (tmp_path / "out").exists()
