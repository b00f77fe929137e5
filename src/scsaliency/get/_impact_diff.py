"""``get.impact_diff``: compare gene-set impacts between two groups of cells."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import stats as _stats
from .._stored import impact_entry
from .._utils import validate as _validate

TESTS = ("auto", "samples", "cells")


def _pooled(mean, var, n, idx):
    """Mean and variance (ddof=1) of the union of the groups ``idx``, from their moments."""
    n_i = n[idx].astype(np.float64)[:, None, None]
    total = n_i.sum()
    m = (n_i * mean[idx]).sum(0) / total
    ss = ((n_i - 1) * var[idx] + n_i * (mean[idx] - m) ** 2).sum(0)
    return m, ss / max(total - 1, 1), total


def _pseudobulk(e: Mapping, idx: list[int], min_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample impact of the union of groups ``idx`` and where it has ``min_cells`` cells.

    Returns the pseudobulks (samples x sets x units) and a boolean mask over samples.
    """
    n = np.asarray(e["sample_n"])[idx].astype(np.float64)  # groups x samples
    mean = np.nan_to_num(np.asarray(e["sample_mean"])[idx])  # groups x samples x sets x units
    total = n.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (n[:, :, None, None] * mean).sum(0) / total[:, None, None]
    return pooled, total >= min_cells


def _samples_test(e, i, j, min_cells, min_samples, names):
    """Pseudobulk test across samples; returns means, t, p, sample counts and the test's name."""
    x1, ok1 = _pseudobulk(e, [i], min_cells)
    x2, ok2 = _pseudobulk(e, j, min_cells)
    both = ok1 & ok2
    if both.sum() >= min_samples:
        d = x1[both] - x2[both]
        t, p = _stats.paired_t(d)
        m1, m2 = x1[both].mean(0), x2[both].mean(0)
        test, s1, s2 = "samples, paired t-test on pseudobulks", int(both.sum()), int(both.sum())
    else:
        m1, m2 = x1[ok1].mean(0), x2[ok2].mean(0)
        test, s1, s2 = "samples, Welch's t-test on pseudobulks", int(ok1.sum()), int(ok2.sum())
        if min(s1, s2) >= min_samples:
            t, p = _stats.welch_samples(x1[ok1], x2[ok2])
        else:
            warnings.warn(
                f"{names[0]} has {s1} and {names[1]} {s2} samples with at least min_cells="
                f"{min_cells} cells, fewer than min_samples={min_samples}: no test (t, pval, "
                "padj are NaN); mean differences are kept.",
                stacklevel=3,
            )
            t = p = np.full(m1.shape, np.nan)
            test = f"samples, no test (fewer than min_samples={min_samples} per group)"
    return m1, m2, t, p, s1, s2, test


def impact_diff(
    adata: AnnData,
    group1: str,
    group2: str = "rest",
    *,
    key: str = "geneset_impact",
    groupby: str | None = None,
    test: Literal["auto", "samples", "cells"] = "auto",
    min_cells: int = 3,
    min_samples: int = 3,
) -> pd.DataFrame:
    """Compare gene-set impacts between two groups of cells.

    Parameters
    ----------
    adata
        AnnData with ``uns[key]`` from :func:`scsaliency.tl.geneset_impact` run with
        ``groupby`` (and, for a test across samples, ``sample_key``).
    group1
        A group of that ``groupby``.
    group2
        Another group, or ``"rest"`` (all other labelled cells).
    key
        The impact's ``key_added``.
    groupby
        The ``obs`` column the impact was grouped by; when given, it is checked against the
        stored one (``None``: the stored one, whatever it is).
    test
        What the replicates are. ``"samples"``: the pseudobulks, i.e. the mean per-cell impact
        of a group's cells in each sample of ``sample_key``. When at least ``min_samples``
        samples have cells of both groups, a paired t-test over those samples (each sample its
        own control, as for cell types of the same donors); otherwise Welch's t-test between the
        two groups' samples (as for conditions with donors nested in them). ``"cells"``: Welch's
        t-test with cells as replicates, which is only right when all cells come from one
        sample: with several, it takes sample differences for group differences (Squair et al.
        2021). ``"auto"`` (default): ``"samples"`` when ``tl.geneset_impact`` was given a
        ``sample_key``, else ``"cells"``.
    min_cells
        Smallest group (with ``"cells"``) or pseudobulk (with ``"samples"``) that counts: a
        variance from one or two cells says nothing, and with it Welch's test can call a single
        cell significant. A smaller group gets NaN ``t``, ``pval`` and ``padj`` and a warning,
        and keeps its mean differences; a smaller pseudobulk is left out.
    min_samples
        Fewest samples (pseudobulks with at least ``min_cells`` cells) per group for the test
        across samples; below it, NaN statistics and a warning.

    Returns
    -------
    One row per (gene set, unit): ``gene_set``, ``unit`` (int, as in every table of
    :mod:`scsaliency.get`), ``impact1``, ``impact2`` (mean per-cell impact in each group; with
    ``"samples"``, the mean of the tested samples' pseudobulks), ``diff``
    (``impact1 - impact2``), ``scaled_diff`` (``diff`` over the range of both groups' sets x
    units tables together, i.e. both min-max scaled on one common scale, so in [-1, 1] with 0 for no
    difference; the paper scaled each group's table on its own, which shifts every pair of a
    group whose largest impact is high, so that nearly every unit looked lower in a small
    group), ``effect_size`` (``diff`` over the cells' pooled
    standard deviation, Cohen's d: how far apart the groups are relative to the spread within
    them, defined when no test can run), ``t`` and ``pval`` (two-sided, from the test above)
    and ``padj`` (Benjamini-Hochberg over all rows). ``df.attrs`` holds the group names,
    ``n1``/``n2`` (cells), ``test`` (which test ran, in words, or ``"... no test (...)"``
    when too few samples or cells left none) and with samples
    ``samples1``/``samples2`` (samples tested).
    """
    e = impact_entry(adata, key)
    _check_diff_args(e, key, test=test, min_cells=min_cells, min_samples=min_samples)
    _validate.check_stored_groupby(e, key, groupby)
    use_samples = test == "samples" or (test == "auto" and "sample_mean" in e)
    i, j = _group_indices(adata, e, group1, group2)
    n = np.asarray(e["group_n"])
    n1, n2 = float(n[i]), float(n[j].sum())
    attrs = {}
    if use_samples:
        m1, m2, t, p, s1, s2, name = _samples_test(
            e, i, j, min_cells, min_samples, (group1, group2)
        )
        attrs.update(samples1=s1, samples2=s2, sample_key=e["params"]["sample_key"])
    else:
        m1, m2, t, p, name = _cells_test(e, i, j, min_cells, (group1, group2))
    df = _long_table(e, m1, m2, t, p, _cohens_d(e, i, j))
    df.attrs.update(
        group1=group1,
        group2=group2,
        n1=int(n1),
        n2=int(n2),
        groupby=e["params"]["groupby"],
        test=name,
        **attrs,
    )
    return df


def _check_diff_args(e: Mapping, key: str, *, test: str, min_cells: int, min_samples: int) -> None:
    if "groups" not in e:
        raise KeyError(
            f"adata.uns[{key!r}] has no groups; run scsaliency.tl.geneset_impact "
            "with groupby= first."
        )
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}, got {test!r}.")
    if min_cells < 2:
        raise ValueError(f"min_cells must be at least 2 (a variance needs two), got {min_cells}.")
    if min_samples < 2:
        raise ValueError(f"min_samples must be at least 2, got {min_samples}.")
    if test == "samples" and "sample_mean" not in e:
        raise ValueError(
            f"adata.uns[{key!r}] has no per-sample impacts; run scsaliency.tl.geneset_impact"
            "(adata, ..., groupby=..., sample_key='<obs column of the sample>') first."
        )


def _group_indices(adata: AnnData, e: Mapping, group1: str, group2: str) -> tuple[int, list[int]]:
    """Index of ``group1`` and indices of ``group2`` (all others for ``"rest"``), checked."""
    names = [str(g) for g in e["groups"]]
    groupby = e["params"]["groupby"]

    def index(group: str) -> int:
        if group not in names:
            if groupby in adata.obs:
                labels = _validate.check_obs_key(adata, groupby)
                if group in labels.cat.categories:
                    _validate.check_group(labels, group, key=groupby)  # raises for no cells
            raise KeyError(f"{group!r} is not a group of obs[{groupby!r}] (groups: {names}).")
        return names.index(group)

    i = index(group1)
    if group2 == group1:
        raise ValueError("group1 and group2 are the same group.")
    j = [k for k in range(len(names)) if k != i] if group2 == "rest" else [index(group2)]
    n = np.asarray(e["group_n"])
    if n[i] == 0 or n[j].sum() == 0:
        raise ValueError(
            f"A compared group has no cells ({group1}: {n[i]}, {group2}: {n[j].sum()})."
        )
    return i, j


def _cells_test(e: Mapping, i: int, j: list[int], min_cells: int, names: tuple[str, str]):
    """Welch's t-test with cells as replicates; NaN statistics for a group below min_cells."""
    n = np.asarray(e["group_n"])
    n1, n2 = float(n[i]), float(n[j].sum())
    mean, var = np.asarray(e["group_mean"]), np.asarray(e["group_var"])
    m1, v1 = mean[i], var[i]
    m2, v2, _ = _pooled(mean, var, n, j)
    t, p = _stats.welch(m1, v1, n1, m2, v2, n2)
    if min(n1, n2) < min_cells:
        warnings.warn(
            f"{names[0]} has {int(n1)} and {names[1]} {int(n2)} cells, fewer than min_cells="
            f"{min_cells}: no test (t, pval, padj are NaN); mean differences are kept.",
            stacklevel=3,
        )
        t, p = np.full_like(t, np.nan), np.full_like(p, np.nan)
        return m1, m2, t, p, f"cells, no test (a group below min_cells={min_cells})"
    return m1, m2, t, p, "cells, Welch's t-test"


def _cohens_d(e: Mapping, i: int, j: list[int]) -> np.ndarray:
    """Difference of the cell means over the pooled per-cell standard deviation."""
    n = np.asarray(e["group_n"])
    mean, var = np.asarray(e["group_mean"]), np.asarray(e["group_var"])
    m2, v2, n2 = _pooled(mean, var, n, j)
    n1 = float(n[i])
    pooled = ((n1 - 1) * var[i] + (n2 - 1) * v2) / max(n1 + n2 - 2, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = (mean[i] - m2) / np.sqrt(pooled)
    return np.where(pooled > 0, d, np.nan)


def _long_table(e: Mapping, m1, m2, t, p, d) -> pd.DataFrame:
    """One row per (gene set, unit) with means, differences, statistics and BH-adjusted p."""
    sets = list(e["impact"].index)
    units = [int(u) for u in e["impact"].columns]
    grid_set, grid_unit = np.meshgrid(sets, units, indexing="ij")
    both = np.concatenate([np.ravel(m1), np.ravel(m2)])
    span = np.nanmax(both) - np.nanmin(both) if np.isfinite(both).any() else 0.0
    diff = m1 - m2
    df = pd.DataFrame(
        {
            "gene_set": grid_set.ravel(),
            "unit": grid_unit.ravel().astype(np.int64),
            "impact1": m1.ravel(),
            "impact2": m2.ravel(),
            "diff": diff.ravel(),
            "scaled_diff": (diff / span if span > 0 else np.zeros_like(diff)).ravel(),
            "effect_size": np.asarray(d).ravel(),
            "t": np.asarray(t).ravel(),
            "pval": np.asarray(p).ravel(),
        }
    )
    df["padj"] = _stats.bh_adjust(df["pval"].to_numpy())
    return df
