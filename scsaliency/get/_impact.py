from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _input, _stats


def _entry(adata: AnnData, key: str) -> Mapping:
    if key not in adata.uns or "impact" not in adata.uns[key]:
        raise KeyError(
            f"No gene-set impact in adata.uns[{key!r}]. Run "
            f"scsaliency.tl.geneset_impact(adata, gene_sets, key_added={key!r}) first."
        )
    return adata.uns[key]


def impact(adata: AnnData, key: str = "geneset_impact") -> pd.DataFrame:
    """Whole-data gene-set impacts as a tidy table.

    Parameters
    ----------
    adata
        AnnData with ``uns[key]`` from :func:`scsaliency.tl.geneset_impact`.
    key
        Its ``key_added``.

    Returns
    -------
    One row per (gene set, unit): ``gene_set``, ``unit``, ``impact``, ``scaled`` and, if
    computed, ``zscore``, ``pval``, ``padj``, ``pval_emp``.
    """
    e = _entry(adata, key)
    cols = [c for c in ("impact", "scaled", "zscore", "pval", "padj", "pval_emp") if c in e]
    long = [e[c].rename_axis(index="gene_set", columns="unit").stack().rename(c) for c in cols]
    return pd.concat(long, axis=1).reset_index()


def units(adata: AnnData, key: str = "geneset_impact") -> pd.DataFrame:
    """Which unit carries which gene set, one row per unit.

    Parameters
    ----------
    adata
        AnnData with ``uns[key]`` from :func:`scsaliency.tl.geneset_impact`.
    key
        Its ``key_added``.

    Returns
    -------
    Columns ``unit``, ``gene_set`` (the unit's best set), ``score``, ``zscore``, ``padj``,
    ``impact``, ``second_set``, ``margin`` (score over the second set), ``share`` (of the set's
    positive z-score that falls on this unit), ``owner`` (whether the unit is the set's best),
    ``status`` (``"carries a set"``, ``"no significant set"``, ``"inactive"``) and ``label``
    (e.g. ``"13: MARKERS_NK"``), as stored in ``uns[key]["units"]``; sorted by unit.
    """
    e = _entry(adata, key)
    if "units" not in e:
        raise KeyError(
            f"adata.uns[{key!r}] has no unit table (computed by an older version); "
            "run scsaliency.tl.geneset_impact again."
        )
    table = e["units"].copy()
    table.insert(0, "unit", table.index.astype(int))
    return table.sort_values("unit").reset_index(drop=True)


def _pooled(mean, var, n, idx):
    """Mean and variance (ddof=1) of the union of the groups ``idx``, from their moments."""
    n_i = n[idx].astype(np.float64)[:, None, None]
    total = n_i.sum()
    m = (n_i * mean[idx]).sum(0) / total
    ss = ((n_i - 1) * var[idx] + n_i * (mean[idx] - m) ** 2).sum(0)
    return m, ss / max(total - 1, 1), total


def impact_diff(
    adata: AnnData,
    group1: str,
    group2: str = "rest",
    key: str = "geneset_impact",
    *,
    min_cells: int = 3,
) -> pd.DataFrame:
    """Compare gene-set impacts between two groups of cells.

    Parameters
    ----------
    adata
        AnnData with ``uns[key]`` from :func:`scsaliency.tl.geneset_impact` run with
        ``groupby``.
    group1
        A group of that ``groupby``.
    group2
        Another group, or ``"rest"`` (all other labelled cells).
    key
        The impact's ``key_added``.
    min_cells
        Smallest group (in cells) that gets a test: a variance from one or two cells says
        nothing, and with it Welch's test can call a single cell significant. A smaller group
        gets NaN ``t``, ``pval`` and ``padj`` and a warning; its mean differences are kept.

    Returns
    -------
    One row per (gene set, unit): ``gene_set``, ``unit``, ``impact1``, ``impact2`` (mean
    per-cell impact in each group), ``diff`` (``impact1 - impact2``), ``scaled_diff`` (the
    paper's scaled difference: each group's sets x units table min-max scaled to [0, 1], then
    subtracted, so in [-1, 1]), ``t`` and ``pval`` (Welch's t-test with cells as replicates,
    two-sided) and ``padj`` (Benjamini-Hochberg over all rows). ``df.attrs`` holds the group
    names and cell counts.
    """
    e = _entry(adata, key)
    if "groups" not in e:
        raise KeyError(
            f"adata.uns[{key!r}] has no groups; run scsaliency.tl.geneset_impact "
            "with groupby= first."
        )
    names = [str(g) for g in e["groups"]]
    groupby = e["params"]["groupby"]

    def index(group: str) -> int:
        if group not in names:
            if groupby in adata.obs:
                labels = _input.check_obs_key(adata, groupby)
                if group in labels.cat.categories:
                    _input.check_group(labels, group, key=groupby)  # raises for no cells
            raise KeyError(f"{group!r} is not a group of obs[{groupby!r}] (groups: {names}).")
        return names.index(group)

    i = index(group1)
    if group2 == group1:
        raise ValueError("group1 and group2 are the same group.")
    j = [k for k in range(len(names)) if k != i] if group2 == "rest" else [index(group2)]
    n = np.asarray(e["group_n"])
    mean, var = np.asarray(e["group_mean"]), np.asarray(e["group_var"])
    if n[i] == 0 or n[j].sum() == 0:
        raise ValueError(
            f"A compared group has no cells ({group1}: {n[i]}, {group2}: {n[j].sum()})."
        )
    if min_cells < 2:
        raise ValueError(f"min_cells must be at least 2 (a variance needs two), got {min_cells}.")
    m1, v1, n1 = mean[i], var[i], float(n[i])
    m2, v2, n2 = _pooled(mean, var, n, j)
    t, p = _stats.welch(m1, v1, n1, m2, v2, n2)
    if min(n1, n2) < min_cells:
        warnings.warn(
            f"{group1} has {int(n1)} and {group2} {int(n2)} cells, fewer than min_cells="
            f"{min_cells}: no test (t, pval, padj are NaN); mean differences are kept.",
            stacklevel=2,
        )
        t, p = np.full_like(t, np.nan), np.full_like(p, np.nan)
    sets = list(e["impact"].index)
    units = list(e["impact"].columns)
    grid_set, grid_unit = np.meshgrid(sets, units, indexing="ij")
    df = pd.DataFrame(
        {
            "gene_set": grid_set.ravel(),
            "unit": grid_unit.ravel(),
            "impact1": m1.ravel(),
            "impact2": m2.ravel(),
            "diff": (m1 - m2).ravel(),
            "scaled_diff": (_stats.minmax(m1) - _stats.minmax(m2)).ravel(),
            "t": t.ravel(),
            "pval": p.ravel(),
        }
    )
    df["padj"] = _stats.bh_adjust(df["pval"].to_numpy())
    df.attrs.update(group1=group1, group2=group2, n1=int(n1), n2=int(n2), groupby=groupby)
    return df
