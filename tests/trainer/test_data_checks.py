"""The trainer refuses data XGBoost cannot take, or that is not the pinned data, with one
line naming the column or both digests, exit code 2, and the JSON failure summary."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest

from tests.objectstore import ObjectStore

#: The data error exit code: a retry cannot help (the Job's podFailurePolicy fails at once).
DATA_ERROR = 2


def table(rows: int = 300, seed: int = 0) -> list[list[str]]:
    """Header and rows of a learnable binary table: numbers a, b, text colour, label y."""
    rng = np.random.default_rng(seed)
    lines = [["a", "b", "colour", "y"]]
    for _ in range(rows):
        a, b = rng.normal(size=2)
        colour = ("red", "green", "blue")[int(rng.integers(3))]
        lines.append([f"{a:.4f}", f"{b:.4f}", colour, str(int(a + 0.3 * b > 0))])
    return lines


def write_csv(path: Path, lines: list[list[str]]) -> Path:
    path.write_text("".join(",".join(line) + "\n" for line in lines))
    return path


def run(
    tmp_path: Path, dataset: dict[str, Any], env: dict[str, str] | None = None, **overrides: Any
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run the trainer as a process; its result and the termination message it wrote."""
    document = {
        "modelName": "m",
        "version": "v1",
        "task": "binary",
        "dataset": dataset,
        "output": {"path": str(tmp_path / "out")},
        "terminationMessagePath": str(tmp_path / "termination-log"),
        **overrides,
    }
    (tmp_path / "config.json").write_text(json.dumps(document))
    result = subprocess.run(
        [sys.executable, "-m", "modelrelease_trainer", "--config", str(tmp_path / "config.json")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    log = tmp_path / "termination-log"
    return result, json.loads(log.read_text()) if log.exists() else {}


def refused(result: subprocess.CompletedProcess[str], summary: dict[str, Any]) -> str:
    """The one error line, checked to be the summary's error and exit code 2."""
    assert result.returncode == DATA_ERROR, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0] == f"error: {summary['error']}"
    return lines[0]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        pytest.param("a", "inf", id="inf"),
        pytest.param("b", "-inf", id="minus-inf"),
        pytest.param("a", "1e39", id="beyond-float32"),
        pytest.param("a", "-3.5e38", id="beyond-float32-negative"),
    ],
)
def test_values_float32_cannot_hold_are_refused_naming_column_and_row(
    tmp_path: Path, column: str, value: str
) -> None:
    lines = table()
    lines[17][lines[0].index(column)] = value
    path = write_csv(tmp_path / "t.csv", lines)
    line = refused(*run(tmp_path, {"uri": str(path), "labelColumn": "y"}))
    assert f"column {column!r} has 1 infinite or out-of-range values" in line
    assert f"row 17: {float(value)!r}" in line


def test_an_infinite_regression_label_is_refused(tmp_path: Path) -> None:
    lines = table()
    lines[200][3] = "inf"
    path = write_csv(tmp_path / "t.csv", lines)
    line = refused(*run(tmp_path, {"uri": str(path), "labelColumn": "y"}, task="regression"))
    assert "label column 'y' has 1 infinite or out-of-range values" in line
    assert line.endswith("e.g. row 200: inf")


def test_out_of_range_values_in_parquet_are_refused(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame([line for line in table()[1:]], columns=table()[0])
    frame = frame.astype({"a": float, "b": float, "y": int})
    frame.loc[41, "b"] = np.float64(1e300)
    frame.to_parquet(tmp_path / "t.parquet")
    line = refused(*run(tmp_path, {"uri": str(tmp_path / "t.parquet"), "labelColumn": "y"}))
    assert "column 'b' has 1 infinite or out-of-range values" in line and "row 42: 1e+300" in line


def test_stray_strings_in_a_numeric_column_are_an_error_not_categories(tmp_path: Path) -> None:
    lines = table()
    lines[9][0] = "unknown"
    lines[99][0] = "twelve"
    path = write_csv(tmp_path / "t.csv", lines)
    line = refused(*run(tmp_path, {"uri": str(path), "labelColumn": "y"}))
    assert "column 'a' has 2 values that are not numbers (e.g. row 9: 'unknown')" in line
    assert "dataset.categoricalColumns" in line
    # Mostly text: a number among the colours is one more category, as before.
    lines = table()
    lines[5][2] = "7"
    path = write_csv(tmp_path / "t.csv", lines)
    result, _ = run(tmp_path, {"uri": str(path), "labelColumn": "y"})
    assert result.returncode == 0, result.stderr
    card = json.loads((tmp_path / "out" / "model-card.json").read_text())
    colour = next(f for f in card["features"] if f["name"] == "colour")
    assert colour["categories"] == ["7", "blue", "green", "red"]


def test_listed_categorical_columns_are_categories_even_when_numeric(tmp_path: Path) -> None:
    lines = table()
    for index, line in enumerate(lines[1:]):
        line[1] = str(index % 4)  # b: integer codes
    path = write_csv(tmp_path / "t.csv", lines)
    dataset = {"uri": str(path), "labelColumn": "y", "categoricalColumns": ["b", "colour"]}
    result, _ = run(tmp_path, dataset)
    assert result.returncode == 0, result.stderr
    card = json.loads((tmp_path / "out" / "model-card.json").read_text())
    kinds = {f["name"]: f.get("categories") for f in card["features"]}
    assert kinds == {"a": None, "b": ["0", "1", "2", "3"], "colour": ["blue", "green", "red"]}


def test_with_a_list_an_unlisted_text_column_is_an_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", table())
    dataset = {"uri": str(path), "labelColumn": "y", "categoricalColumns": []}
    line = refused(*run(tmp_path, dataset))
    assert "column 'colour' has 300 values that are not numbers (e.g. row 1: " in line


def test_categorical_columns_must_be_features(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", table())
    dataset = {"uri": str(path), "labelColumn": "y", "categoricalColumns": ["colour", "shade"]}
    line = refused(*run(tmp_path, dataset))
    assert line.endswith("categoricalColumns names columns that are no features: shade")


def test_a_categorical_column_over_max_categories_is_refused(tmp_path: Path) -> None:
    lines = table()
    for index, line in enumerate(lines[1:]):
        line[2] = f"c{index % 30}"
    path = write_csv(tmp_path / "t.csv", lines)
    dataset = {"uri": str(path), "labelColumn": "y", "maxCategories": 29}
    error = refused(*run(tmp_path, dataset))
    assert "categorical column 'colour' has 30 distinct values; at most 29" in error
    result, _ = run(tmp_path, {**dataset, "maxCategories": 30})
    assert result.returncode == 0, result.stderr


def test_the_summary_records_the_files_sha256_and_a_pin_holds_it(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", table())
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    result, summary = run(tmp_path, {"uri": str(path), "labelColumn": "y", "sha256": expected})
    assert result.returncode == 0, result.stderr
    assert summary["dataset"] == {"sha256": expected}
    card = json.loads((tmp_path / "out" / "model-card.json").read_text())
    assert card["dataset"]["sha256"] == f"sha256:{expected}"


def test_a_pin_of_other_data_is_refused_with_both_digests(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", table())
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    pinned = hashlib.sha256(b"other data").hexdigest()
    line = refused(*run(tmp_path, {"uri": str(path), "labelColumn": "y", "sha256": pinned}))
    assert line == (
        f"error: dataset {path}: sha256 mismatch: the data has {actual}, "
        f"dataset.sha256 pins {pinned}"
    )
    assert not (tmp_path / "out").exists()


def test_a_compressed_file_is_pinned_by_its_stored_bytes(tmp_path: Path) -> None:
    plain = write_csv(tmp_path / "t.csv", table())
    packed = tmp_path / "t.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    stored = hashlib.sha256(packed.read_bytes()).hexdigest()
    result, summary = run(tmp_path, {"uri": str(packed), "labelColumn": "y", "sha256": stored})
    assert result.returncode == 0, result.stderr
    assert summary["dataset"]["sha256"] == stored
    assert stored != hashlib.sha256(plain.read_bytes()).hexdigest()


def test_a_malformed_pin_is_a_config_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", table())
    line = refused(*run(tmp_path, {"uri": str(path), "labelColumn": "y", "sha256": "ABC"}))
    assert line.startswith("error: config: dataset.sha256:")


def test_breast_cancer_trains_records_its_digest_and_honours_a_pin(tmp_path: Path) -> None:
    dataset = {"uri": "builtin:breast-cancer", "labelColumn": "target"}
    (tmp_path / "first").mkdir()
    result, summary = run(tmp_path / "first", dataset)
    assert result.returncode == 0, result.stderr
    digest = summary["dataset"]["sha256"]
    assert len(digest) == 64 and summary["metrics"]["roc_auc"] > 0.95
    (tmp_path / "pinned").mkdir()
    result, _ = run(tmp_path / "pinned", {**dataset, "sha256": digest})
    assert result.returncode == 0, result.stderr
    (tmp_path / "wrong").mkdir()
    line = refused(*run(tmp_path / "wrong", {**dataset, "sha256": "0" * 64}))
    assert f"the data has {digest}, dataset.sha256 pins {'0' * 64}" in line


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    with ObjectStore(tmp_path_factory.mktemp("seaweedfs")) as running:
        yield running


def upload(store: ObjectStore, url: str, data: bytes) -> None:
    fs, path = fsspec.core.url_to_fs(
        url, key=store.access_key, secret=store.secret_key, endpoint_url=store.endpoint
    )
    fs.makedirs(path.split("/")[0], exist_ok=True)
    fs.pipe_file(path, data)


def test_an_s3_data_set_is_read_digested_and_checked(store: ObjectStore, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "t.csv", table()).read_bytes()
    upload(store, "s3://datasets/loans/t.csv", data)
    dataset = {"uri": "s3://datasets/loans/t.csv", "labelColumn": "y"}
    (tmp_path / "ok").mkdir()
    result, summary = run(tmp_path / "ok", dataset, env=store.credentials())
    assert result.returncode == 0, result.stderr
    assert summary["dataset"]["sha256"] == hashlib.sha256(data).hexdigest()
    (tmp_path / "pinned").mkdir()
    pinned = {**dataset, "sha256": hashlib.sha256(b"yesterday's data").hexdigest()}
    line = refused(*run(tmp_path / "pinned", pinned, env=store.credentials()))
    assert "error: dataset s3://datasets/loans/t.csv: sha256 mismatch" in line


def test_bad_values_in_an_s3_data_set_are_refused(store: ObjectStore, tmp_path: Path) -> None:
    lines = table()
    lines[3][1] = "-inf"
    upload(
        store, "s3://datasets/loans/bad.csv", "".join(",".join(x) + "\n" for x in lines).encode()
    )
    dataset = {"uri": "s3://datasets/loans/bad.csv", "labelColumn": "y"}
    line = refused(*run(tmp_path, dataset, env=store.credentials()))
    assert "column 'b' has 1 infinite or out-of-range values" in line and "row 3: -inf" in line
