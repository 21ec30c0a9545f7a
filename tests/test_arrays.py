"""The NumPy helpers that replace np.unique on large integer arrays give its answers."""

import numpy as np
import pytest

from civicsentry.arrays import sorted_unique, unique_inverse


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sorted_unique_and_unique_inverse_match_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Negative values, heavy repeats and the int64 extremes.
    x = np.concatenate(
        [rng.integers(-50, 50, 500), [np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0]]
    )
    rng.shuffle(x)
    assert np.array_equal(sorted_unique(x), np.unique(x))
    values, inverse = unique_inverse(x)
    expected_values, expected_inverse = np.unique(x, return_inverse=True)
    assert np.array_equal(values, expected_values)
    assert np.array_equal(inverse, expected_inverse)
    assert np.array_equal(values[inverse], x)


def test_empty_and_single() -> None:
    assert sorted_unique(np.zeros(0, np.int64)).tolist() == []
    assert sorted_unique(np.array([7, 7, 7])).tolist() == [7]
    values, inverse = unique_inverse(np.array([3, 1, 3]))
    assert values.tolist() == [1, 3] and inverse.tolist() == [1, 0, 1]
