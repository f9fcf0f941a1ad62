"""What the serving pods export, as typed per-version snapshots, and windows between two.

A snapshot holds *cumulative* counters of one model version summed over its pods, as
the server exports them (see docs/serving.md for the series). The judgement window of a
stage is the difference between the snapshot now and the one taken when the window
began; that earlier one lives in status in compact form (`VersionCounts`), so a
restarted operator judges the same window.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from ..api.release import VersionCounts

#: Endpoints that answer predictions; metadata and feedback calls are not judged.
PREDICTION_ENDPOINTS = frozenset({"infer", "predict"})

REQUESTS = "modelrelease_requests_total"
DURATION_BUCKET = "modelrelease_request_duration_seconds_bucket"
SCORE_BUCKET = "modelrelease_prediction_score_bucket"
FEEDBACK = "modelrelease_feedback_total"
FEEDBACK_CORRECT = "modelrelease_feedback_correct_total"


@dataclass(frozen=True)
class Histogram:
    """A Prometheus histogram: ascending upper bounds (the last +Inf), cumulative counts."""

    bounds: tuple[float, ...] = ()
    cumulative: tuple[float, ...] = ()

    @staticmethod
    def from_buckets(buckets: Mapping[float, float]) -> Histogram:
        ordered = sorted(buckets.items())
        return Histogram(tuple(b for b, _ in ordered), tuple(c for _, c in ordered))

    @property
    def total(self) -> float:
        return self.cumulative[-1] if self.cumulative else 0.0

    def counts(self) -> tuple[float, ...]:
        """Per-bucket (not cumulative) counts: [4, 6, 9] → (4, 2, 3)."""
        previous = 0.0
        out = []
        for value in self.cumulative:
            out.append(value - previous)
            previous = value
        return tuple(out)

    def plus(self, other: Histogram) -> Histogram:
        if not other.bounds:
            return self
        if not self.bounds:
            return other
        merged: dict[float, float] = defaultdict(float)
        for histogram in (self, other):
            for bound, value in zip(histogram.bounds, histogram.cumulative, strict=True):
                merged[bound] += value
        return Histogram.from_buckets(merged)

    def minus(self, earlier: tuple[float, ...]) -> Histogram | None:
        """The counts added since `earlier` (same bounds); None when a counter went back."""
        if not earlier:
            return self
        if len(earlier) != len(self.cumulative):
            return None
        delta = tuple(now - then for now, then in zip(self.cumulative, earlier, strict=True))
        if any(value < 0 for value in delta):
            return None
        return Histogram(self.bounds, delta)


@dataclass(frozen=True)
class VersionSnapshot:
    """Cumulative serving counters of one model version, summed over its pods."""

    requests: float = 0.0
    server_errors: float = 0.0
    client_errors: float = 0.0
    latency: Histogram = field(default_factory=Histogram)
    scores: Histogram = field(default_factory=Histogram)
    feedback: float = 0.0
    feedback_correct: float = 0.0

    def plus(self, other: VersionSnapshot) -> VersionSnapshot:
        return VersionSnapshot(
            requests=self.requests + other.requests,
            server_errors=self.server_errors + other.server_errors,
            client_errors=self.client_errors + other.client_errors,
            latency=self.latency.plus(other.latency),
            scores=self.scores.plus(other.scores),
            feedback=self.feedback + other.feedback,
            feedback_correct=self.feedback_correct + other.feedback_correct,
        )

    def compact(self) -> VersionCounts:
        """The form kept in status: counts only (the bounds come back with the next read)."""
        return VersionCounts(
            requests=round(self.requests),
            errors=round(self.server_errors),
            client_errors=round(self.client_errors),
            latency=list(self.latency.cumulative),
            scores=list(self.scores.cumulative),
            feedback=round(self.feedback),
            feedback_correct=round(self.feedback_correct),
        )

    def since(self, start: VersionCounts | None) -> VersionSnapshot:
        """What happened after `start`. Counters that went back mean a restarted pod: then
        the whole current count is the window's, as Prometheus' increase() reads a reset.

        Two groups reset apart: the serving counters come from the version's own pods,
        the feedback counters from every pod of the release (a label counts where it
        arrives), so a pod of the other version going away resets only the latter."""
        if start is None:
            return self
        latency = self.latency.minus(tuple(start.latency))
        scores = self.scores.minus(tuple(start.scores))
        served = (
            self.requests - start.requests,
            self.server_errors - start.errors,
            self.client_errors - start.client_errors,
        )
        labelled = (self.feedback - start.feedback, self.feedback_correct - start.feedback_correct)
        if latency is None or scores is None or any(value < 0 for value in served):
            served = (self.requests, self.server_errors, self.client_errors)
            latency, scores = self.latency, self.scores
        if any(value < 0 for value in labelled):
            labelled = (self.feedback, self.feedback_correct)
        requests, server_errors, client_errors = served
        feedback, correct = labelled
        return VersionSnapshot(
            requests=requests,
            server_errors=server_errors,
            client_errors=client_errors,
            latency=latency,
            scores=scores,
            feedback=feedback,
            feedback_correct=correct,
        )


@dataclass
class _Accumulator:
    requests: float = 0.0
    server_errors: float = 0.0
    client_errors: float = 0.0
    latency: dict[float, float] = field(default_factory=lambda: defaultdict(float))
    scores: dict[float, float] = field(default_factory=lambda: defaultdict(float))
    feedback: float = 0.0
    feedback_correct: float = 0.0

    def snapshot(self) -> VersionSnapshot:
        return VersionSnapshot(
            requests=self.requests,
            server_errors=self.server_errors,
            client_errors=self.client_errors,
            latency=Histogram.from_buckets(self.latency),
            scores=Histogram.from_buckets(self.scores),
            feedback=self.feedback,
            feedback_correct=self.feedback_correct,
        )


def add_sample(
    versions: dict[str, _Accumulator], name: str, labels: Mapping[str, str], value: float
) -> None:
    """Fold one sample of a serving series into the per-version sums."""
    version = labels.get("version")
    if version is None or math.isnan(value):
        return
    into = versions.setdefault(version, _Accumulator())
    endpoint = labels.get("endpoint")
    if name == REQUESTS and endpoint in PREDICTION_ENDPOINTS:
        into.requests += value
        outcome = labels.get("outcome")
        if outcome == "server_error":
            into.server_errors += value
        elif outcome == "client_error":
            into.client_errors += value
    elif name == DURATION_BUCKET and endpoint in PREDICTION_ENDPOINTS:
        into.latency[float(labels["le"])] += value
    elif name == SCORE_BUCKET:
        into.scores[float(labels["le"])] += value
    elif name == FEEDBACK:
        into.feedback += value
    elif name == FEEDBACK_CORRECT:
        into.feedback_correct += value


def parse_exposition(texts: Iterable[str], model: str) -> dict[str, VersionSnapshot]:
    """Version → snapshot, summed over the pods whose /metrics texts are given."""
    versions: dict[str, _Accumulator] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.labels.get("model") == model:
                    add_sample(versions, sample.name, sample.labels, float(sample.value))
    return {version: acc.snapshot() for version, acc in versions.items()}


def new_accumulators() -> dict[str, _Accumulator]:
    """Per-version sums to fold samples into (for sources other than exposition text)."""
    return {}


def finish(versions: dict[str, _Accumulator]) -> dict[str, VersionSnapshot]:
    return {version: acc.snapshot() for version, acc in versions.items()}
