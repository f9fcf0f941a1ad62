"""Quantiles from buckets, PSI, and the two-sample tests, against known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from modelrelease_operator.release import statistics


@pytest.mark.parametrize(
    ("q", "bounds", "cumulative", "expected"),
    [
        (0.5, [0.1, 0.2, math.inf], [0, 10, 10], 0.15),  # inside the second bucket
        (0.99, [0.1, 0.2, math.inf], [10, 10, 10], 0.099),  # first bucket starts at 0
        (0.99, [0.1, 0.2, math.inf], [0, 0, 10], 0.2),  # +Inf bucket: highest finite bound
        (0.5, [0.1, math.inf], [0, 0], math.nan),  # nothing observed
        (0.25, [1.0, 2.0, 4.0, math.inf], [10, 20, 40, 40], 1.0),
    ],
)
def test_histogram_quantile_interpolates_like_promql(
    q: float, bounds: list[float], cumulative: list[float], expected: float
) -> None:
    found = statistics.histogram_quantile(q, bounds, cumulative)
    if math.isnan(expected):
        assert math.isnan(found)
    else:
        assert found == pytest.approx(expected)


def test_histogram_quantile_is_close_to_the_sample_quantile() -> None:
    samples = np.random.default_rng(3).exponential(0.05, 20000)
    bounds = [0.005 * 1.2**i for i in range(40)] + [math.inf]
    cumulative = [float((samples <= b).sum()) for b in bounds]
    estimate = statistics.histogram_quantile(0.99, bounds, cumulative)
    assert estimate == pytest.approx(np.quantile(samples, 0.99), rel=0.1)


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift() -> None:
    base = [100, 300, 400, 200]
    assert statistics.psi(base, [10, 30, 40, 20]) == pytest.approx(0.0, abs=1e-12)
    small = statistics.psi(base, [110, 290, 400, 200])
    large = statistics.psi(base, [400, 300, 200, 100])
    assert 0 < small < 0.01 < 0.2 < large


def test_psi_survives_empty_buckets() -> None:
    assert math.isfinite(statistics.psi([0, 10, 10], [10, 0, 10]))


def test_psi_refuses_mismatched_buckets() -> None:
    with pytest.raises(ValueError, match="bucket counts differ"):
        statistics.psi([1, 2], [1, 2, 3])


@given(
    st.lists(st.integers(1, 1000), min_size=2, max_size=20),
    st.lists(st.integers(1, 1000), min_size=2, max_size=20),
)
def test_psi_is_symmetric_and_non_negative(a: list[int], b: list[int]) -> None:
    size = min(len(a), len(b))
    a, b = a[:size], b[:size]
    assert statistics.psi(a, b) >= -1e-12
    assert statistics.psi(a, b) == pytest.approx(statistics.psi(b, a))


@pytest.mark.parametrize(
    ("candidate", "stable", "tolerance", "significant"),
    [
        ((50, 1000), (10, 1000), 0.0, True),
        ((12, 1000), (10, 1000), 0.0, False),
        ((30, 1000), (10, 1000), 0.03, False),  # worse, but within the tolerance
        ((0, 1000), (0, 1000), 0.0, False),  # no errors anywhere
        ((5, 1000), (30, 1000), 0.0, False),  # better is never a failure
    ],
)
def test_two_proportion_test(
    candidate: tuple[int, int], stable: tuple[int, int], tolerance: float, significant: bool
) -> None:
    result = statistics.two_proportion_test(*candidate, *stable, tolerance)
    assert (result.p_value < 0.05) is significant


def test_two_proportion_test_matches_a_chi_square_on_the_table() -> None:
    # With pooled variance, z^2 equals the uncorrected chi-square statistic.
    result = statistics.two_proportion_test(40, 800, 20, 900)
    table = statistics.chi_square_homogeneity([40, 760], [20, 880])
    assert result.z**2 == pytest.approx(table.statistic)


def test_chi_square_homogeneity() -> None:
    same = statistics.chi_square_homogeneity([100, 200, 300], [50, 100, 150])
    assert same.p_value == pytest.approx(1.0)
    shifted = statistics.chi_square_homogeneity([100, 200, 300], [300, 200, 100])
    assert shifted.p_value < 1e-10
    assert statistics.chi_square_homogeneity([0, 5], [0, 7]).p_value == 1.0
