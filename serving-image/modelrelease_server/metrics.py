"""Prometheus series the release analysis reads; names and labels are a contract."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import numpy.typing as npt
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    generate_latest,
    multiprocess,
)

# 1 ms .. 5 s with steps of at most ~1.5x, so p99 read from buckets is within ~25%.
DURATION_BUCKETS = (
    0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03,
    0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0,
)  # fmt: skip
ENDPOINTS = ("infer", "predict", "feedback", "metadata")
OUTCOMES = ("success", "client_error", "server_error")
CONTENT_TYPE = CONTENT_TYPE_LATEST
#: Versions (this server's own among them) whose feedback one process counts at most.
MAX_FEEDBACK_VERSIONS = 16


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class ServerMetrics:
    """All series of one served model, with label children bound once (hot path cost)."""

    def __init__(
        self, model: str, version: str, digest: str, score_edges: tuple[float, ...]
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = {"model": model, "version": version}
        names = ("model", "version")
        reg = self.registry
        requests = Counter(
            "modelrelease_requests_total",
            "Requests by endpoint and outcome.",
            (*names, "endpoint", "outcome"),
            registry=reg,
        )
        duration = Histogram(
            "modelrelease_request_duration_seconds",
            "Time from the request's arrival to its response, by endpoint.",
            (*names, "endpoint"),
            buckets=DURATION_BUCKETS,
            registry=reg,
        )
        self.requests = {
            (e, o): requests.labels(endpoint=e, outcome=o, **labels)
            for e in ENDPOINTS
            for o in OUTCOMES
        }
        self.duration = {e: duration.labels(endpoint=e, **labels) for e in ENDPOINTS}
        self._score_bounds = np.asarray(score_edges or (0.5,), dtype=np.float64)
        self.score = Histogram(
            "modelrelease_prediction_score",
            "Model score per record (binary: positive-class probability; multiclass: "
            "top-class probability; regression: prediction); buckets are reference.json's.",
            names,
            buckets=tuple(self._score_bounds),
            registry=reg,
        ).labels(**labels)
        input_errors = Counter(
            "modelrelease_input_errors_total",
            "Rejected requests by reason.",
            (*names, "reason"),
            registry=reg,
        )
        self._input_errors = input_errors
        self._labels = labels
        # Labelled with the version that served the prediction, which is not always this
        # server's own: a label may reach any pod of the release.
        self._feedback_family = Counter(
            "modelrelease_feedback",
            "Labels received for known predictions, by the version that made the prediction.",
            names,
            registry=reg,
        )
        self._feedback_correct_family = Counter(
            "modelrelease_feedback_correct",
            "Feedback labels that matched the prediction (regression: within tolerance).",
            names,
            registry=reg,
        )
        self._feedback_by_version: dict[str, tuple[Any, Any]] = {}
        self.feedback, self.feedback_correct = self._feedback_children(version)
        self.feedback_unknown = Counter(
            "modelrelease_feedback_unknown",
            "Feedback whose prediction is unknown: a feedback id that is garbled, forged, "
            "expired or of another model; an unknown, expired or already labelled request id.",
            names,
            registry=reg,
        ).labels(**labels)
        # Info does not work in multiprocess mode; it is identical in every worker, so it
        # lives in a registry of its own that each worker renders directly.
        self._info_registry = CollectorRegistry(auto_describe=True)
        Info("modelrelease_model", "The model served.", names, registry=self._info_registry).labels(
            **labels
        ).info({"digest": f"sha256:{digest}" if digest else ""})
        self._multiprocess = multiprocess_dir() is not None

    def _feedback_children(self, version: str) -> tuple[Any, Any]:
        found = self._feedback_by_version.get(version)
        if found is None:
            found = (
                self._feedback_family.labels(model=self._labels["model"], version=version),
                self._feedback_correct_family.labels(model=self._labels["model"], version=version),
            )
            self._feedback_by_version[version] = found
        return found

    def count_feedback(self, version: str, known: int, correct: int) -> bool:
        """Count labels judged against predictions of `version`; False (nothing counted)
        when this process already counts MAX_FEEDBACK_VERSIONS versions and not this one:
        versions come from tokens, and a series per version must stay bounded."""
        known_versions = self._feedback_by_version
        if version not in known_versions and len(known_versions) >= MAX_FEEDBACK_VERSIONS:
            return False
        total, right = self._feedback_children(version)
        if known:
            total.inc(known)
        if correct:
            right.inc(correct)
        return True

    def input_error(self, reason: str) -> None:
        self._input_errors.labels(reason=reason, **self._labels).inc()

    def observe_scores(self, scores: npt.NDArray[Any]) -> None:
        """One observation per record, counted in bulk rather than per record."""
        child: Any = self.score
        try:
            # prometheus_client keeps per-bucket (not cumulative) values in `_buckets`;
            # adding counts there is what N calls of observe() would do, in one pass.
            buckets = child._buckets
            total = child._sum
        except AttributeError:  # a prometheus_client without these internals
            for value in scores.tolist():
                child.observe(value)
            return
        finite = scores[np.isfinite(scores)]
        slots = np.searchsorted(self._score_bounds, finite, side="left")
        counts = np.bincount(slots, minlength=len(buckets))
        for slot in np.flatnonzero(counts).tolist():
            buckets[slot].inc(int(counts[slot]))
        total.inc(float(finite.sum()))

    def render(self) -> bytes:
        if self._multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry) + generate_latest(self._info_registry)
        return generate_latest(self.registry) + generate_latest(self._info_registry)
