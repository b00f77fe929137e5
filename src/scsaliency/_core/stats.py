"""Statistics for gene-set impacts: expression-matched null sets, Welch tests, BH adjustment."""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

import numpy as np
from scipy import stats

if TYPE_CHECKING:
    import torch

#: numpy for the CPU path, torch where the null sets are averaged on an accelerator.
ArrayOrTensor = Union[np.ndarray, "torch.Tensor"]


def minmax(a: np.ndarray) -> np.ndarray:
    """Min-max scale a whole table to [0, 1]; all zeros when it is constant."""
    lo, hi = a.min(), a.max()
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def eta_squared(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Per column of ``values`` (cells x columns), the share of its variance between groups.

    ``codes``: each cell's group (integers). 0 where a column is constant.
    """
    values = np.asarray(values, dtype=np.float64)
    centred = values - values.mean(0)
    total = (centred**2).sum(0)
    between = np.zeros(values.shape[1])
    for c in np.unique(codes):
        cells = codes == c
        between += cells.sum() * centred[cells].mean(0) ** 2
    return np.where(total > 0, between / np.where(total > 0, total, 1.0), 0.0)


def bh_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (any shape; NaN stays NaN)."""
    p = np.asarray(p, dtype=np.float64)
    flat = p.ravel()
    ok = np.isfinite(flat)
    out = np.full_like(flat, np.nan)
    if ok.any():
        out[ok] = stats.false_discovery_control(flat[ok], method="bh")
    return out.reshape(p.shape)


def expression_bins(mean: np.ndarray, n_bins: int = 25) -> np.ndarray:
    """Bin genes by mean expression rank into ``n_bins`` bins of equal size.

    This is how :func:`scanpy.tl.score_genes` groups genes to pick control genes.
    """
    ranks = np.argsort(np.argsort(mean, kind="stable"), kind="stable")
    return (ranks * n_bins // len(mean)).astype(np.int64)


def trimmed_mean(values: ArrayOrTensor, total: ArrayOrTensor | None = None) -> ArrayOrTensor:
    """Mean over the members axis (``-2``) without each column's largest member.

    With a single member, its value. ``values`` is a numpy array or a torch tensor (the
    result is of the same kind); ``total``: its sum over that axis, when already computed.
    """
    n = values.shape[-2]
    total = values.sum(-2) if total is None else total
    if n < 2:
        return total
    largest = values.amax(-2) if hasattr(values, "amax") else values.max(axis=-2)
    return (total - largest) / (n - 1)


def null_impacts(
    saliency: np.ndarray,
    members: np.ndarray,
    bins: np.ndarray,
    n_null: int,
    rng: np.random.Generator,
    *,
    on_device=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Impacts (n_null x units) of random sets matched gene by gene on the expression bin.

    Each random set replaces every member gene with a gene drawn at random from the member's
    bin, so a random set has the set's size and expression profile. Returns the random sets'
    means and, from the same draws, their :func:`trimmed_mean`.

    ``on_device``: ``saliency`` as a torch tensor on an accelerator; the random sets' genes are
    then gathered and averaged there (the draws are the same: numpy's ``rng``). On a GPU this
    is most of the impact's time otherwise (n_null x members x units values per set).
    """
    order = np.argsort(bins, kind="stable")
    bin_start = np.searchsorted(bins[order], np.arange(bins.max() + 2))
    b = bins[members]
    lo, hi = bin_start[b], bin_start[b + 1]
    draws = lo + np.floor(rng.random((n_null, len(members))) * (hi - lo)).astype(np.int64)
    if on_device is None:
        values = saliency[order[draws]]
        return values.mean(axis=1), trimmed_mean(values)
    import torch

    rows = torch.as_tensor(order[draws], device=on_device.device)
    values = on_device[rows]  # n_null x members x units
    total = values.sum(dim=1)
    trimmed = trimmed_mean(values, total)
    return (total / len(members)).cpu().numpy(), trimmed.cpu().numpy()


def empirical(observed: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, ...]:
    """z-score, normal-approximation p and empirical p (one-sided, larger than null) per unit.

    The normal p is ``norm.sf(z)``, as decoupler's ``norm`` methods compute theirs; unlike the
    empirical p (``(1 + #null >= obs) / (n_null + 1)``) it is not limited to a resolution of
    ``1 / (n_null + 1)``, which multiple-testing correction over many (set, unit) pairs needs.
    """
    sd = null.std(axis=0, ddof=1)
    z = (observed - null.mean(axis=0)) / np.where(sd > 0, sd, np.nan)
    p_emp = (1 + (null >= observed).sum(axis=0)) / (len(null) + 1)
    return z, stats.norm.sf(z), p_emp


def welch(m1, v1, n1, m2, v2, n2) -> tuple[np.ndarray, np.ndarray]:
    """Welch's two-sample t-test from means, variances (ddof=1) and sizes; two-sided p."""
    se2 = v1 / n1 + v2 / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (m1 - m2) / np.sqrt(se2)
        df = se2**2 / ((v1 / n1) ** 2 / max(n1 - 1, 1) + (v2 / n2) ** 2 / max(n2 - 1, 1))
    p = 2 * stats.t.sf(np.abs(t), df)
    p = np.where(se2 > 0, p, np.where(m1 == m2, 1.0, 0.0))
    return t, p


def paired_t(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Paired t-test from per-sample differences ``d`` (samples first); two-sided p."""
    n = d.shape[0]
    m, sd = d.mean(0), d.std(0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = m / (sd / np.sqrt(n))
    p = 2 * stats.t.sf(np.abs(t), n - 1)
    p = np.where(sd > 0, p, np.where(m == 0, 1.0, 0.0))
    return t, p


def welch_samples(x1: np.ndarray, x2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Welch's t-test between two sets of per-sample values (samples first)."""
    return welch(x1.mean(0), x1.var(0, ddof=1), len(x1), x2.mean(0), x2.var(0, ddof=1), len(x2))
