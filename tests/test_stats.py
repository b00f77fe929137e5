"""The statistics helpers."""

import numpy as np

from scsaliency._core import stats as _stats


def test_stats_helpers():
    p = np.array([0.01, 0.04, 0.03, 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 -> 0.04, min(0.06, 0.0533), 0.0533, 0.5
    np.testing.assert_allclose(_stats.bh_adjust(p), [0.04, 0.16 / 3, 0.16 / 3, 0.5])
    bins = _stats.expression_bins(np.arange(100.0), n_bins=10)
    assert np.bincount(bins).tolist() == [10] * 10
    rng = np.random.default_rng(0)
    sal = np.arange(100.0)[:, None]  # saliency = rank, one unit
    null, trimmed = _stats.null_impacts(sal, np.array([5, 95]), bins, 200, rng)
    # Matched draws come from the members' bins: 0-9 and 90-99.
    assert null.min() >= (0 + 90) / 2 and null.max() <= (9 + 99) / 2
    # without its strongest gene, each random pair keeps only its draw from the low bin
    assert trimmed.min() >= 0 and trimmed.max() <= 9
    high = 2 * null - trimmed  # the same draws: the pair's sum minus its low member
    assert high.min() >= 90 and high.max() <= 99
    vals = np.array([[1.0, 5.0], [7.0, 2.0], [4.0, 3.0]])  # 3 members x 2 units
    np.testing.assert_allclose(_stats.trimmed_mean(vals), [2.5, 2.5])


def test_null_impacts_on_a_device_as_in_numpy():
    """The torch path (used on CUDA) draws the same random sets and gives the same values."""
    import torch

    gen = np.random.default_rng(0)
    sal = gen.random((300, 6))
    bins = _stats.expression_bins(gen.random(300), 10)
    for members in (np.arange(0, 40, 3), np.array([7])):
        a = _stats.null_impacts(sal, members, bins, 50, np.random.default_rng(1))
        b = _stats.null_impacts(
            sal, members, bins, 50, np.random.default_rng(1), on_device=torch.as_tensor(sal)
        )
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(y, x, rtol=1e-12)
