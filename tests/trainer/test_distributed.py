"""Distributed training: three trainer processes joined by XGBoost's collective over
loopback, with rank 0's RabitTracker, as the pods of an Indexed Job run them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .workers import finish, run_workers, start

WORKERS = 3
#: Large enough that a shard is no toy, small enough for two shared cores.
DATASET = "builtin:loan-default?rows=200000&seed=7"

Runs = tuple[dict[str, Any], list[dict[str, Any]], Path]


def _config(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "modelName": "loan-default",
        "version": "v1",
        "task": "binary",
        "dataset": {"uri": DATASET, "labelColumn": "default"},
        # One thread per worker: three workers share the machine's cores.
        "hyperparameters": {"nthread": 1},
        "output": {"path": "set-by-start"},
    }
    document.update(overrides)
    return document


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """(single-process summary, the workers' summaries by rank, their folder)."""
    workdir = tmp_path_factory.mktemp("distributed")
    single = finish(workdir / "single", start(_config(), workdir / "single", None))
    cluster = {"workers": WORKERS, "trackerHost": "set-by-run-workers", "timeoutSeconds": 120}
    return single, run_workers(_config(distributed=cluster), workdir), workdir


def test_three_workers_reach_the_single_process_roc_auc(runs: Runs) -> None:
    single, (leader, *_), _ = runs
    auc_single, auc_distributed = single["metrics"]["roc_auc"], leader["metrics"]["roc_auc"]
    print(f"roc_auc single {auc_single:.5f}, {WORKERS} workers {auc_distributed:.5f}")
    assert auc_single > 0.8
    assert auc_distributed == pytest.approx(auc_single, abs=0.005)
    assert leader["digest"].startswith("sha256:")


def test_only_rank_0_writes_the_artifact_and_the_others_report_their_shard(runs: Runs) -> None:
    _, (leader, *others), workdir = runs
    card = json.loads((workdir / "rank-0" / "artifact" / "model-card.json").read_text())
    train_rows = card["dataset"]["rows"]["train"]
    # Every worker stopped at the same round: the validation metric was allreduced.
    assert [o["bestIteration"] for o in others] == [leader["bestIteration"]] * (WORKERS - 1)
    assert [o["rank"] for o in others] == list(range(1, WORKERS))
    assert all(o["workers"] == WORKERS and "metrics" not in o for o in others)
    assert all(abs(o["rows"]["train"] - train_rows / WORKERS) < 1 for o in others)
    for rank in range(1, WORKERS):
        assert not (workdir / f"rank-{rank}" / "artifact").exists()


def test_a_worker_without_its_index_is_refused(tmp_path: Path) -> None:
    cluster = {"workers": WORKERS, "trackerHost": "127.0.0.1", "timeoutSeconds": 5}
    config = _config(distributed=cluster)
    config["dataset"]["uri"] = "builtin:loan-default?rows=500&seed=7"
    process = start(config, tmp_path / "lost", None)
    assert process.wait(timeout=60) == 2
    assert "JOB_COMPLETION_INDEX" in (tmp_path / "lost" / "stderr").read_text()
