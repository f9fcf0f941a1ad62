"""The statistics the gates rest on: quantiles from buckets, PSI, and two-sample tests."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

#: Share given to an empty bucket in PSI, so that log(0) does not make it infinite.
PSI_FLOOR = 1e-4


def histogram_quantile(q: float, bounds: Sequence[float], cumulative: Sequence[float]) -> float:
    """The q-quantile of a histogram, interpolated as PromQL's histogram_quantile does.

    Linear within the bucket that holds the rank; the lowest bucket starts at 0 (when its
    bound is positive); a rank in the +Inf bucket gives the highest finite bound. NaN for
    an empty histogram.

    >>> round(histogram_quantile(0.5, [0.1, 0.2, math.inf], [0, 10, 10]), 6)
    0.15
    """
    if not cumulative or cumulative[-1] <= 0:
        return math.nan
    rank = q * cumulative[-1]
    index = next(i for i, count in enumerate(cumulative) if count >= rank)
    if math.isinf(bounds[index]):
        finite = [b for b in bounds if not math.isinf(b)]
        return finite[-1] if finite else math.nan
    lower = bounds[index - 1] if index > 0 else min(0.0, bounds[0])
    below = cumulative[index - 1] if index > 0 else 0.0
    inside = cumulative[index] - below
    if inside <= 0:
        return bounds[index]
    return lower + (bounds[index] - lower) * (rank - below) / inside


def _shares(counts: Sequence[float]) -> npt.NDArray[np.float64]:
    values = np.asarray(counts, dtype=np.float64)
    total = values.sum()
    if total <= 0:
        raise ValueError("an empty distribution has no shares")
    shares: npt.NDArray[np.float64] = np.clip(values / total, PSI_FLOOR, None)
    return shares


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of `actual` against `expected` (per-bucket counts).

    sum of (a - e) * ln(a / e) over bucket shares; under 0.1 is commonly read as no shift,
    0.1 to 0.2 as a moderate one, above 0.2 as a significant one.

    >>> round(psi([50, 50], [50, 50]), 6)
    0.0
    >>> round(psi([50, 50], [90, 10]), 3)
    0.879
    """
    if len(expected) != len(actual):
        raise ValueError(f"bucket counts differ: {len(expected)} vs {len(actual)}")
    e, a = _shares(expected), _shares(actual)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class ProportionTest:
    """One-sided test that the candidate's rate exceeds the stable's (plus a tolerance)."""

    candidate_rate: float
    stable_rate: float
    z: float
    p_value: float


def two_proportion_test(
    candidate_events: float,
    candidate_total: float,
    stable_events: float,
    stable_total: float,
    tolerance: float = 0.0,
) -> ProportionTest:
    """z-test of H1: p_candidate > p_stable + tolerance (pooled variance when tolerance is 0).

    >>> t = two_proportion_test(50, 1000, 10, 1000)
    >>> round(t.z, 2), t.p_value < 1e-6
    (5.24, True)
    """
    if candidate_total <= 0 or stable_total <= 0:
        raise ValueError("both versions need requests")
    p1 = candidate_events / candidate_total
    p2 = stable_events / stable_total
    if tolerance == 0:
        pooled = (candidate_events + stable_events) / (candidate_total + stable_total)
        variance = pooled * (1 - pooled) * (1 / candidate_total + 1 / stable_total)
    else:
        variance = p1 * (1 - p1) / candidate_total + p2 * (1 - p2) / stable_total
    difference = p1 - p2 - tolerance
    if variance <= 0:
        # No errors at all (or only errors) on both sides: nothing to test.
        z = math.inf if difference > 0 else (-math.inf if difference < 0 else 0.0)
    else:
        z = difference / math.sqrt(variance)
    return ProportionTest(p1, p2, z, float(stats.norm.sf(z)))


@dataclass(frozen=True)
class HomogeneityTest:
    statistic: float
    p_value: float


def chi_square_homogeneity(first: Sequence[float], second: Sequence[float]) -> HomogeneityTest:
    """Chi-square test that two histograms (same buckets) come from one distribution.

    Buckets empty in both are left out; fewer than two remaining buckets cannot differ.
    """
    table = np.asarray([first, second], dtype=np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return HomogeneityTest(0.0, 1.0)
    result = stats.chi2_contingency(table, correction=False)
    return HomogeneityTest(float(result.statistic), float(result.pvalue))
