"""Each gate judges one window: Pass, Fail, or Inconclusive (too little data to say).

Inconclusive is never a pass: a stage moves on only when every gate passed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..api.release import Gates, GateStatus, ScoreReference, Verdict
from . import statistics
from .observations import VersionSnapshot

TRAFFIC = "traffic"
ERROR_RATE = "error-rate"
LATENCY = "latency"
DRIFT = "drift"
ACCURACY = "accuracy"
RELATIVE_ERROR_RATE = "relative-error-rate"
RELATIVE_LATENCY = "relative-latency"
RELATIVE_DRIFT = "relative-drift"


@dataclass(frozen=True)
class Window:
    """Both versions' traffic over the same stretch of time, and what to judge it with."""

    candidate: VersionSnapshot
    stable: VersionSnapshot
    candidate_weight: int
    min_requests: int
    reference: ScoreReference | None = None
    custom: Mapping[str, float | None] = field(default_factory=dict)


def _result(
    name: str,
    verdict: Verdict,
    message: str,
    *,
    value: float | None = None,
    threshold: float | None = None,
    samples: float = 0,
) -> GateStatus:
    finite = value if value is None or math.isfinite(value) else None
    return GateStatus(
        name=name,
        verdict=verdict,
        value=None if finite is None else round(finite, 6),
        threshold=threshold,
        samples=int(samples),
        message=message,
    )


def _at_most(name: str, value: float, bound: float, samples: float, what: str) -> GateStatus:
    passed = value <= bound
    return _result(
        name,
        "Pass" if passed else "Fail",
        f"{what} {value:.4g} {'<=' if passed else '>'} {bound:g} over {samples:.0f}",
        value=value,
        threshold=bound,
        samples=samples,
    )


def _short(name: str, have: float, need: int, what: str, threshold: float | None) -> GateStatus:
    return _result(
        name,
        "Inconclusive",
        f"{have:.0f} {what} of the {need} needed",
        threshold=threshold,
        samples=have,
    )


def traffic(window: Window) -> GateStatus:
    """The stage's minimum number of candidate requests."""
    served = window.candidate.requests
    if served < window.min_requests:
        return _short(TRAFFIC, served, window.min_requests, "candidate requests", None)
    return _result(
        TRAFFIC,
        "Pass",
        f"{served:.0f} candidate requests (>= {window.min_requests})",
        value=served,
        threshold=window.min_requests,
        samples=served,
    )


def error_rate(gates: Gates, window: Window) -> GateStatus | None:
    gate = gates.error_rate
    if gate is None:
        return None
    served = window.candidate.requests
    if served < max(1, window.min_requests):
        return _short(ERROR_RATE, served, max(1, window.min_requests), "requests", gate.max)
    errors = window.candidate.server_errors
    if gate.include_client_errors:
        errors += window.candidate.client_errors
    return _at_most(ERROR_RATE, errors / served, gate.max, served, "error rate")


def _latency_quantile(snapshot: VersionSnapshot, q: float) -> float:
    return statistics.histogram_quantile(q, snapshot.latency.bounds, snapshot.latency.cumulative)


def latency(gates: Gates, window: Window) -> GateStatus | None:
    gate = gates.latency
    if gate is None:
        return None
    name = f"{LATENCY}-p{gate.quantile * 100:g}"
    observed = window.candidate.latency.total
    if observed < max(1, window.min_requests):
        return _short(name, observed, max(1, window.min_requests), "requests", gate.max_seconds)
    value = _latency_quantile(window.candidate, gate.quantile)
    return _at_most(name, value, gate.max_seconds, observed, f"p{gate.quantile * 100:g} seconds")


def drift(gates: Gates, window: Window) -> GateStatus | None:
    gate = gates.drift
    if gate is None:
        return None
    scores = window.candidate.scores
    if window.reference is None:
        return _result(
            DRIFT, "Inconclusive", "the training reference distribution is unknown", samples=0
        )
    if scores.total < gate.min_predictions:
        return _short(DRIFT, scores.total, gate.min_predictions, "predictions", gate.max_psi)
    counts = scores.counts()
    if len(counts) != len(window.reference.counts):
        return _result(
            DRIFT,
            "Inconclusive",
            f"served score buckets ({len(counts)}) differ from the reference's "
            f"({len(window.reference.counts)})",
            samples=scores.total,
        )
    value = statistics.psi(window.reference.counts, counts)
    return _at_most(DRIFT, value, gate.max_psi, scores.total, "PSI against training")


def accuracy(gates: Gates, window: Window) -> GateStatus | None:
    gate = gates.accuracy
    if gate is None:
        return None
    labelled = window.candidate.feedback
    if labelled < gate.min_feedback:
        return _short(ACCURACY, labelled, gate.min_feedback, "feedback labels", gate.min)
    value = window.candidate.feedback_correct / labelled
    passed = value >= gate.min
    return _result(
        ACCURACY,
        "Pass" if passed else "Fail",
        f"online accuracy {value:.4g} {'>=' if passed else '<'} {gate.min:g} "
        f"over {labelled:.0f} labels",
        value=value,
        threshold=gate.min,
        samples=labelled,
    )


def relative_error_rate(gates: Gates, window: Window) -> GateStatus | None:
    gate = gates.relative.error_rate
    if gate is None:
        return None
    need = max(1, window.min_requests)
    least = min(window.candidate.requests, window.stable.requests)
    if least < need:
        return _short(RELATIVE_ERROR_RATE, least, need, "requests on each side", gate.alpha)
    test = statistics.two_proportion_test(
        window.candidate.server_errors,
        window.candidate.requests,
        window.stable.server_errors,
        window.stable.requests,
        gate.tolerance,
    )
    worse = test.p_value < gate.alpha
    return _result(
        RELATIVE_ERROR_RATE,
        "Fail" if worse else "Pass",
        f"candidate {test.candidate_rate:.3%} vs stable {test.stable_rate:.3%} errors: "
        f"z={test.z:.2f}, p={test.p_value:.3g} {'<' if worse else '>='} alpha {gate.alpha:g}",
        value=test.p_value,
        threshold=gate.alpha,
        samples=least,
    )


def relative_latency(gates: Gates, window: Window) -> GateStatus | None:
    gate = gates.relative.latency
    if gate is None:
        return None
    need = max(1, window.min_requests)
    least = min(window.candidate.latency.total, window.stable.latency.total)
    if least < need:
        return _short(RELATIVE_LATENCY, least, need, "requests on each side", gate.max_ratio)
    candidate = _latency_quantile(window.candidate, gate.quantile)
    stable = _latency_quantile(window.stable, gate.quantile)
    ratio = candidate / stable if stable > 0 else math.inf
    passed = ratio <= gate.max_ratio
    return _result(
        RELATIVE_LATENCY,
        "Pass" if passed else "Fail",
        f"p{gate.quantile * 100:g} candidate {candidate:.4g}s / stable {stable:.4g}s = "
        f"{ratio:.3g} {'<=' if passed else '>'} {gate.max_ratio:g}",
        value=ratio,
        threshold=gate.max_ratio,
        samples=least,
    )


def relative_drift(gates: Gates, window: Window) -> GateStatus | None:
    gate = gates.relative.drift
    if gate is None:
        return None
    candidate, stable = window.candidate.scores, window.stable.scores
    least = min(candidate.total, stable.total)
    if least < gate.min_predictions:
        return _short(RELATIVE_DRIFT, least, gate.min_predictions, "predictions each", gate.max_psi)
    if candidate.bounds != stable.bounds:
        return _result(
            RELATIVE_DRIFT,
            "Inconclusive",
            "the versions' score buckets differ; compare each with its reference (drift gate)",
            samples=least,
        )
    value = statistics.psi(stable.counts(), candidate.counts())
    test = statistics.chi_square_homogeneity(stable.counts(), candidate.counts())
    # A large PSI on little data can be noise; a significant test on lots of data can be a
    # harmless shift. Fail only when the shift is both large and real.
    failed = value > gate.max_psi and test.p_value < gate.alpha
    return _result(
        RELATIVE_DRIFT,
        "Fail" if failed else "Pass",
        f"PSI candidate vs stable {value:.4g} ({'>' if value > gate.max_psi else '<='} "
        f"{gate.max_psi:g}), chi-square p={test.p_value:.3g} (alpha {gate.alpha:g})",
        value=value,
        threshold=gate.max_psi,
        samples=least,
    )


def custom(gates: Gates, window: Window) -> list[GateStatus]:
    results = []
    for gate in gates.custom:
        name = f"custom:{gate.name}"
        value = window.custom.get(gate.name)
        bound = gate.max if gate.max is not None else gate.min
        if value is None:
            results.append(
                _result(name, "Inconclusive", "the query returned no single value", threshold=bound)
            )
            continue
        too_high = gate.max is not None and value > gate.max
        too_low = gate.min is not None and value < gate.min
        failed_bound = gate.max if too_high else gate.min if too_low else bound
        results.append(
            _result(
                name,
                "Fail" if too_high or too_low else "Pass",
                f"{gate.query} = {value:.4g}"
                + (f" outside [{gate.min}, {gate.max}]" if too_high or too_low else ""),
                value=value,
                threshold=failed_bound,
            )
        )
    return results


def evaluate(gates: Gates, window: Window) -> list[GateStatus]:
    """Every configured gate's verdict on the window, traffic first.

    The relative gates need stable traffic in the same window: at a weight of 100 there is
    none, so they are left out there (they have judged the earlier stages).
    """
    results = [traffic(window)]
    judges = [error_rate, latency, drift, accuracy]
    if window.candidate_weight < 100:
        judges += [relative_error_rate, relative_latency, relative_drift]
    for judge in judges:
        verdict = judge(gates, window)
        if verdict is not None:
            results.append(verdict)
    return results + custom(gates, window)


def summary(results: list[GateStatus]) -> str:
    """The overall verdict: Fail when any gate failed, else Inconclusive when any could
    not judge, else Pass."""
    failed = [r for r in results if r.verdict == "Fail"]
    waiting = [r for r in results if r.verdict == "Inconclusive"]
    if failed:
        return "Fail"
    if waiting:
        return "Inconclusive"
    return "Pass"
