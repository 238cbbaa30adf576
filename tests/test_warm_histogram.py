"""The latency histogram: percentiles within 1 % of exact, in fixed memory."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachectl.warm import LatencyHistogram
from cachectl.warm.histogram import BUCKET_COUNT, MAX_VALUE_US, bucket_bounds, bucket_index


def exact_percentile(samples: list[float], percent: float) -> float:
    """Nearest-rank percentile, the definition the histogram approximates."""
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1]


def filled(samples: list[float]) -> LatencyHistogram:
    histogram = LatencyHistogram()
    for sample in samples:
        histogram.record(sample)
    return histogram


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_are_within_one_percent_on_random_latencies(seed: int) -> None:
    rng = random.Random(seed)
    # Log-normal around 20 ms with a long tail, plus some sub-millisecond cache hits.
    samples = [rng.lognormvariate(math.log(0.02), 1.0) for _ in range(50_000)]
    samples += [rng.uniform(0.0003, 0.001) for _ in range(10_000)]
    histogram = filled(samples)
    for percent in (1, 10, 50, 90, 95, 99, 99.9, 100):
        exact = exact_percentile(samples, percent)
        approximate = histogram.percentile(percent)
        assert approximate is not None
        assert abs(approximate - exact) <= 0.01 * exact, (percent, approximate, exact)
    assert histogram.count == 60_000
    assert histogram.max == pytest.approx(max(samples), abs=1e-6)
    assert histogram.min == pytest.approx(min(samples), abs=1e-6)
    assert histogram.mean == pytest.approx(sum(samples) / len(samples), rel=1e-4)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=0.0005, max_value=600.0), min_size=1, max_size=300),
    st.floats(min_value=0, max_value=100),
)
def test_any_percentile_is_within_one_percent(samples: list[float], percent: float) -> None:
    exact = exact_percentile(samples, percent)
    approximate = filled(samples).percentile(percent)
    assert approximate is not None
    assert abs(approximate - exact) <= 0.01 * exact


def test_memory_is_fixed_whatever_the_number_of_samples() -> None:
    def size(histogram: LatencyHistogram) -> int:
        counts = histogram._counts  # the bucket array, sized once for every histogram
        return counts.itemsize * len(counts)

    small, large = filled([0.01]), filled([i / 10_000 for i in range(200_000)])
    assert size(small) == size(large) == size(LatencyHistogram()) < 64 * 1024
    assert len(LatencyHistogram.__slots__) == 5  # counts array and four scalars, no sample list


def test_empty_histogram_and_bad_percentile() -> None:
    empty = LatencyHistogram()
    assert (empty.count, empty.percentile(50), empty.min, empty.max, empty.mean) == (
        0,
        None,
        None,
        None,
        None,
    )
    with pytest.raises(ValueError, match="between 0 and 100"):
        empty.percentile(101)


def test_out_of_range_values_are_clamped() -> None:
    histogram = filled([-1.0, 10 * 3600.0])
    assert histogram.min == 0
    assert histogram.max == MAX_VALUE_US / 1_000_000
    assert histogram.percentile(100) == MAX_VALUE_US / 1_000_000


def test_buckets_tile_the_value_range() -> None:
    expected_low = 0
    for index in range(BUCKET_COUNT):
        low, width = bucket_bounds(index)
        assert low == expected_low
        assert bucket_index(low) == bucket_index(low + width - 1) == index
        assert width == 1 or width / low <= 1 / 128
        expected_low = low + width
    assert bucket_index(MAX_VALUE_US) == BUCKET_COUNT - 1
