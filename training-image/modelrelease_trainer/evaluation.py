"""Metrics of a model on held-out rows, and the reference distributions for drift."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics

from .features import Feature

SCORE_EDGES = [round(i * 0.05, 2) for i in range(21)]
#: Training rows whose deciles set a numeric feature's reference edges.
EDGE_SAMPLE = 100_000


def scores(probabilities: np.ndarray, task: str) -> np.ndarray:
    """The one number per row that serving histograms track (docs/artifacts.md)."""
    if task == "binary":
        return probabilities
    if task == "multiclass":
        top: np.ndarray = probabilities.max(axis=1)
        return top
    return probabilities


def classification(y: np.ndarray, probabilities: np.ndarray, classes: int) -> dict[str, Any]:
    if classes == 2:
        predicted = (probabilities >= 0.5).astype(int)
        average, auc = "binary", metrics.roc_auc_score(y, probabilities)
        proba_matrix = np.column_stack([1 - probabilities, probabilities])
    else:
        predicted = probabilities.argmax(axis=1)
        average = "macro"
        auc = metrics.roc_auc_score(
            y, probabilities, multi_class="ovr", average="macro", labels=list(range(classes))
        )
        proba_matrix = probabilities
    return {
        "accuracy": float(metrics.accuracy_score(y, predicted)),
        "precision": float(metrics.precision_score(y, predicted, average=average, zero_division=0)),
        "recall": float(metrics.recall_score(y, predicted, average=average, zero_division=0)),
        "f1": float(metrics.f1_score(y, predicted, average=average, zero_division=0)),
        "roc_auc": float(auc),
        "log_loss": float(metrics.log_loss(y, proba_matrix, labels=list(range(classes)))),
        "confusion_matrix": metrics.confusion_matrix(
            y, predicted, labels=list(range(classes))
        ).tolist(),
    }


def regression(y: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    return {
        "rmse": float(np.sqrt(metrics.mean_squared_error(y, predicted))),
        "mae": float(metrics.mean_absolute_error(y, predicted)),
        "r2": float(metrics.r2_score(y, predicted)),
    }


def histogram(values: np.ndarray, edges: list[float]) -> list[int]:
    """Counts in (edges[i-1], edges[i]], the first `<= edges[0]`, the last above all edges."""
    finite = values[np.isfinite(values)]
    buckets = np.searchsorted(np.asarray(edges), finite, side="left")
    counts: list[int] = np.bincount(buckets, minlength=len(edges) + 1).astype(int).tolist()
    return counts


def score_edges(task: str, training_scores: np.ndarray) -> list[float]:
    if task != "regression":
        return SCORE_EDGES
    return sorted({float(q) for q in np.quantile(training_scores, np.linspace(0.1, 0.9, 9))})


def reference(
    task: str,
    test_scores: np.ndarray,
    training_scores: np.ndarray,
    x_train: np.ndarray,
    features: list[Feature],
) -> dict[str, Any]:
    edges = score_edges(task, training_scores)
    per_feature: dict[str, Any] = {}
    for index, feature in enumerate(features):
        column = x_train[:, index]
        if feature.categories is None:
            # Deciles of an evenly spaced sample: the same cuts, a fraction of the sorting.
            sample = column[:: max(1, len(column) // EDGE_SAMPLE)]
            finite = sample[np.isfinite(sample)]
            if not len(finite):  # a sparse column: every value counts
                finite = column[np.isfinite(column)]
            cuts = (
                sorted({float(q) for q in np.quantile(finite, np.linspace(0.1, 0.9, 9))})
                if len(finite)
                else []
            )
            per_feature[feature.name] = {
                "edges": cuts,
                "counts": histogram(column, cuts),
                "missing": int((~np.isfinite(column)).sum()),
            }
        else:
            codes = column[np.isfinite(column)].astype(int)
            counts = np.bincount(codes, minlength=len(feature.categories)).tolist()
            per_feature[feature.name] = {
                "categories": list(feature.categories),
                "counts": counts,
                "missing": int((~np.isfinite(column)).sum()),
            }
    return {
        "score": {
            "edges": edges,
            "counts": histogram(test_scores, edges),
            "total": len(test_scores),
        },
        "features": per_feature,
    }
