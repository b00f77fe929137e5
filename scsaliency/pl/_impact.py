"""Heatmaps of gene-set impact (the paper's Figures 1d, 1e and 2), with significance marks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from anndata import AnnData
from scipy.cluster.hierarchy import leaves_list, linkage

from .._stats import minmax
from .._units import diagonal_order, significant, standardise_rows
from ..get import impact_diff as get_impact_diff
from ._utils import clean_name, finish, unit_labels


def _entry(adata: AnnData, key: str) -> Mapping:
    if key not in adata.uns or "scaled" not in adata.uns[key]:
        raise KeyError(
            f"No gene-set impact in adata.uns[{key!r}]. Run scsaliency.tl.geneset_impact first."
        )
    return adata.uns[key]


def _order(m: np.ndarray) -> np.ndarray:
    if len(m) < 3:
        return np.arange(len(m))
    return leaves_list(linkage(m, method="average", metric="euclidean", optimal_ordering=True))


def shown_values(e: Mapping, values: str | None) -> tuple[pd.DataFrame, str]:
    """The sets x units table a heatmap shows, and its colour-bar label.

    ``None`` picks ``"zscore"`` when a null was computed, else ``"centred"``.
    """
    if values is None:
        values = "zscore" if "zscore" in e else "centred"
    if values == "scaled":
        return e["scaled"], "scaled impact"
    if values == "zscore":
        if "zscore" not in e:
            raise KeyError("No z-scores stored; run tl.geneset_impact with n_null > 0.")
        return e["zscore"], "z-score vs matched random sets"
    if values == "centred":
        units = [u for u in e["impact"].columns if u not in _inactive(e)]
        return standardise_rows(e["impact"], units), "impact, standardised per set"
    raise ValueError(f"values must be 'zscore', 'centred' or 'scaled', got {values!r}.")


def _inactive(e: Mapping) -> set[str]:
    return set(map(str, e.get("inactive_units", [])))


def layout(
    e: Mapping,
    values: str | None = None,
    *,
    min_impact: float = 0.1,
    top: int | None = 30,
    order: str = "diagonal",
):
    """Gene sets (rows) and units (columns) shown, in display order.

    With ``values="scaled"``: sets whose largest scaled impact reaches ``min_impact`` and the
    units that reach it on a shown set. Otherwise the ``top`` sets with the highest score
    (z-score or standardised impact) on any active unit, and all active units. Inactive units
    are never shown. ``order``: ``"diagonal"`` puts each unit's best sets beside it
    (:func:`scsaliency._units.diagonal_order`), ``"cluster"`` orders rows and columns by
    average-linkage clustering, ``"none"`` by score and unit index.
    """
    if order not in ("diagonal", "cluster", "none"):
        raise ValueError(f"order must be 'diagonal', 'cluster' or 'none', got {order!r}.")
    if top is not None and top < 1:
        raise ValueError(f"top must be at least 1 (or None for all sets), got {top!r}.")
    table, _ = shown_values(e, values)
    table = table.loc[:, [u for u in table.columns if u not in _inactive(e)]]
    if table.shape[1] == 0:
        raise ValueError("Every unit is inactive; there is nothing to show.")
    best = table.max(axis=1)
    if values == "scaled":
        rows = best[best >= min_impact].sort_values(ascending=False)
        if rows.empty:
            raise ValueError(
                f"No gene set reaches min_impact={min_impact} (largest scaled impact: "
                f"{best.max():.3g}); lower min_impact."
            )
    else:
        rows = best.dropna().sort_values(ascending=False)
    if top is not None:
        rows = rows.iloc[:top]
    sub = table.loc[rows.index]
    if values == "scaled":
        sub = sub.loc[:, sub.columns[sub.max(axis=0) >= min_impact]]
    if order == "diagonal":
        return diagonal_order(sub, list(sub.columns))
    if order == "cluster":
        m = sub.fillna(0).to_numpy()
        sub = sub.iloc[_order(m), _order(m.T)]
    return list(sub.index), list(sub.columns)


def _auto_size(
    rows: Sequence[str], col_labels: Sequence[str], strip_prefix: bool
) -> tuple[float, float]:
    label = max(len(clean_name(r, strip_prefix)) for r in rows)
    col_label = max(len(c) for c in col_labels)
    width = min(1.2 + 0.065 * label + 0.17 * len(col_labels) + 1.0, 24)
    return width, min(1.3 + 0.2 * len(rows) + 0.06 * col_label, 22)


def _draw(
    ax,
    m: pd.DataFrame,
    *,
    cmap,
    vmin,
    vmax,
    sig: np.ndarray | None,
    strip_prefix: bool,
    col_labels: Sequence[str] | None = None,
):
    cm = plt.get_cmap(cmap).with_extremes(bad="#e6e6e6")
    im = ax.imshow(
        np.ma.masked_invalid(m.to_numpy(dtype=float)),
        aspect="auto",
        cmap=cm,
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
    )
    ax.set_yticks(range(len(m.index)), [clean_name(r, strip_prefix) for r in m.index], fontsize=7)
    ax.set_xticks(range(len(m.columns)), col_labels or list(m.columns), fontsize=6, rotation=90)
    ax.set_xlabel("unit")
    ax.tick_params(length=1.5, pad=1)
    if sig is not None and sig.any():
        i, j = np.nonzero(sig)
        ax.scatter(j, i, s=5, c="black", edgecolors="white", linewidths=0.4, marker="o")
    return im


def impact_heatmap(
    adata: AnnData,
    key: str = "geneset_impact",
    *,
    groups: Sequence[str] | bool | None = None,
    values: str | None = None,
    min_impact: float = 0.1,
    top: int | None = 30,
    order: str = "diagonal",
    alpha: float = 0.05,
    min_diff: float = 0.1,
    strip_prefix: bool = True,
    cmap: str | None = None,
    ncols: int = 3,
    figsize: tuple[float, float] | None = None,
    ax: plt.Axes | None = None,
    show: bool | None = None,
    save: str | Path | bool | None = None,
    return_fig: bool = False,
):
    """Impact of gene sets (rows) on representation units (columns), Figure 1d of the paper.

    By default shows what distinguishes the units: each (set, unit) pair's z-score against
    expression-matched random sets (or, without a null, the impact standardised per set over
    the units), for the ``top`` sets, with units and sets in a diagonal order, so that each
    unit's sets sit beside it, and units labelled with the set they carry
    (:func:`scsaliency.get.units`). ``values="scaled"`` with ``order="cluster"`` gives the
    paper's min-max scaled map, in which the expression level that every unit shares
    dominates. A dot marks (set, unit) pairs whose impact is significant (``padj < alpha``,
    and ``padj_trimmed < alpha`` when stored: the rule by which a unit carries a set).
    With ``groups``, one panel per group (Figure 2): each group's mean per-cell impact, min-max
    scaled per group, same rows and columns in every panel, dots where the group is
    significantly above the rest (Welch, ``padj < alpha``).

    Parameters
    ----------
    adata
        AnnData with ``uns[key]`` from :func:`scsaliency.tl.geneset_impact`.
    key
        The impact's ``key_added``.
    groups
        Group names to draw one panel each, or ``True`` for all groups (needs ``groupby`` in
        ``tl.geneset_impact``).
    values
        ``"zscore"`` (default when stored: impact against expression-matched random sets),
        ``"centred"`` (impact standardised per set over the units; default without a null) or
        ``"scaled"`` (the paper's min-max scaled impact). Colours of the whole-data panel;
        the rows and columns of the group panels.
    min_impact
        With ``values="scaled"``: sets and units whose largest scaled impact stays below this
        are not shown.
    top
        At most this many sets, highest value first; ``None`` for all.
    order
        ``"diagonal"`` (each unit's best sets beside it), ``"cluster"`` (hierarchical
        clustering of rows and columns) or ``"none"``.
    alpha
        Threshold on the adjusted p for the significance dots.
    min_diff
        With ``groups``: dots only where the group's scaled difference to the rest is at
        least this.
    strip_prefix
        Drop ``HALLMARK_``/``DMAP_``/``MARKERS_`` and underscores from set names.
    cmap
        Colour map; default ``"viridis"`` for scaled impact, ``"RdBu_r"`` for z-scores.
    ncols
        Panels per row with ``groups``.
    figsize
        Figure size; by default computed from the number of rows, columns and label length.
    ax
        Axes to draw into (single panel only).
    show, save, return_fig
        As in scanpy: show; save to a path (``True``: ``sc.settings.figdir/impact_heatmap.png``);
        return the figure instead of the axes.

    Returns
    -------
    The axes (a list with ``groups``), the figure with ``return_fig=True``, or ``None`` when
    shown.
    """
    e = _entry(adata, key)
    table, label = shown_values(e, values)
    rows, cols = layout(e, values, min_impact=min_impact, top=top, order=order)
    labels = unit_labels(e, cols, strip_prefix)
    width, height = _auto_size(rows, labels, strip_prefix)
    if groups is None or groups is False:
        if ax is None:
            fig, ax = plt.subplots(figsize=figsize or (width, height), layout="constrained")
        else:
            fig = ax.figure
        sig = None
        if "padj" in e:  # the units table's rule: with and without the set's top gene
            trimmed = e["padj_trimmed"].loc[rows, cols].to_numpy() if "padj_trimmed" in e else None
            sig = significant(e["padj"].loc[rows, cols].to_numpy(), trimmed, alpha)
        m = table.loc[rows, cols]
        if label == "scaled impact":
            lim = (0, 1)
        else:
            vmax = float(np.nanpercentile(np.abs(m.to_numpy(dtype=float)), 99)) or 1.0
            lim = (-vmax, vmax)
        cmap = cmap or ("viridis" if label == "scaled impact" else "RdBu_r")
        im = _draw(
            ax,
            m,
            cmap=cmap,
            vmin=lim[0],
            vmax=lim[1],
            sig=sig,
            strip_prefix=strip_prefix,
            col_labels=labels,
        )
        fig.colorbar(im, ax=ax, label=label, shrink=min(1, 6 / height), pad=0.01)
        title = "Gene-set impact on units"
        if sig is not None:
            title += f"  (dot: padj < {alpha:g}, with and without the set's top gene)"
        ax.set_title(title, fontsize=9)
        return finish(
            fig, ax, show=show, save=save, return_fig=return_fig, default_name="impact_heatmap"
        )

    if "groups" not in e:
        raise KeyError(f"uns[{key!r}] has no groups; run tl.geneset_impact with groupby=.")
    names = [str(g) for g in e["groups"]]
    chosen = names if groups is True else [str(g) for g in groups]
    unknown = [g for g in chosen if g not in names]
    if unknown:
        raise KeyError(f"Unknown groups {unknown}; groups are {names}.")
    if ax is not None:
        raise ValueError("ax= draws a single panel; leave it out with groups=.")
    n = len(chosen)
    nc = min(ncols, n)
    nr = int(np.ceil(n / nc))
    label_w = 0.6 + 0.065 * max(len(clean_name(r, strip_prefix)) for r in rows)
    panel_w, panel_h = 0.09 * len(cols) + 0.3, 1.0 + 0.17 * len(rows)
    fig, axes = plt.subplots(
        nr,
        nc,
        figsize=figsize or (label_w + panel_w * nc + 1.0, panel_h * nr),
        layout="constrained",
        squeeze=False,
    )
    sets = list(e["impact"].index)
    units = list(e["impact"].columns)
    ri = [sets.index(r) for r in rows]
    ci = [units.index(c) for c in cols]
    for k, (g, a) in enumerate(zip(chosen, axes.flat, strict=False)):
        mean = np.asarray(e["group_mean"])[names.index(g)]
        scaled = minmax(mean)
        m = pd.DataFrame(scaled[np.ix_(ri, ci)], index=rows, columns=cols)
        d = get_impact_diff(adata, g, "rest", key=key)
        d = d.set_index(["gene_set", "unit"])
        idx = pd.MultiIndex.from_product([rows, cols])
        sel = d.loc[idx]
        sig = ((sel["padj"] < alpha) & (sel["scaled_diff"] >= min_diff)).to_numpy()
        im = _draw(
            a,
            m,
            cmap=cmap,
            vmin=0,
            vmax=1,
            sig=sig.reshape(len(rows), len(cols)),
            strip_prefix=strip_prefix,
            col_labels=labels,
        )
        a.set_title(f"{g} (n={int(np.asarray(e['group_n'])[names.index(g)])})", fontsize=9)
        if k % nc:
            a.set_yticklabels([])
    for a in list(axes.flat)[n:]:
        a.set_visible(False)
    fig.colorbar(im, ax=axes, label="scaled impact (per group)", shrink=0.5)
    fig.suptitle(
        f"Impact per group (dot: above the rest, padj < {alpha:g}, scaled difference "
        f">= {min_diff:g})",
        fontsize=10,
    )
    return finish(
        fig,
        list(axes.flat)[:n],
        show=show,
        save=save,
        return_fig=return_fig,
        default_name="impact_heatmap_groups",
    )


def impact_diff(
    adata: AnnData,
    groupby: str,
    group1: str,
    group2: str = "rest",
    key: str = "geneset_impact",
    *,
    min_impact: float = 0.1,
    top: int | None = 30,
    values: str | None = None,
    order: str = "diagonal",
    alpha: float = 0.05,
    min_diff: float = 0.1,
    mask_low: bool = True,
    strip_prefix: bool = True,
    cmap: str = "RdBu_r",
    figsize: tuple[float, float] | None = None,
    ax: plt.Axes | None = None,
    show: bool | None = None,
    save: str | Path | bool | None = None,
    return_fig: bool = False,
):
    """Difference in impact between two groups over the whole-data map, Figure 1e of the paper.

    The scaled difference (:func:`scsaliency.get.impact_diff`, in [-1, 1], red: higher in
    ``group1``) on a diverging colour map centred at 0, for the same sets and units as
    :func:`impact_heatmap`; with ``mask_low``, pairs whose whole-data scaled impact is below
    ``min_impact`` are grey, so the difference is shown over the high-impact cells of the
    whole-data map. A dot marks significant differences (Welch, cells as replicates,
    ``padj < alpha``) of at least ``min_diff``.

    Parameters
    ----------
    adata
        AnnData with ``uns[key]`` from :func:`scsaliency.tl.geneset_impact` with ``groupby``.
    groupby
        The ``obs`` column the impact was grouped by (checked).
    group1, group2
        Groups to compare; ``group2="rest"`` is all other labelled cells.
    key
        The impact's ``key_added``.
    min_impact, top, values, order, strip_prefix, figsize, ax
        As in :func:`impact_heatmap`: the same rows and columns, in the same order.
    alpha
        Threshold on the adjusted p for the dots.
    min_diff
        Dots only where also ``|scaled difference| >= min_diff``: with thousands of cells as
        replicates, tiny differences are significant too.
    mask_low
        Grey out pairs with low whole-data impact.
    cmap
        Diverging colour map.
    show, save, return_fig
        As in scanpy.

    Returns
    -------
    The axes, the figure with ``return_fig=True``, or ``None`` when shown.
    """
    e = _entry(adata, key)
    stored = e.get("params", {}).get("groupby")
    if stored != groupby:
        raise ValueError(
            f"uns[{key!r}] was computed with groupby={stored!r}, not {groupby!r}; "
            f"run tl.geneset_impact(adata, ..., groupby={groupby!r})."
        )
    d = get_impact_diff(adata, group1, group2, key=key)
    rows, cols = layout(e, values, min_impact=min_impact, top=top, order=order)
    labels = unit_labels(e, cols, strip_prefix)
    wide = d.pivot(index="gene_set", columns="unit", values="scaled_diff").loc[rows, cols]
    padj = d.pivot(index="gene_set", columns="unit", values="padj").loc[rows, cols]
    if mask_low:
        wide = wide.where(e["scaled"].loc[rows, cols] >= min_impact)
    width, height = _auto_size(rows, labels, strip_prefix)
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize or (width, height), layout="constrained")
    else:
        fig = ax.figure
    sig = (padj.to_numpy() < alpha) & wide.notna().to_numpy() & (wide.abs().to_numpy() >= min_diff)
    im = _draw(
        ax,
        wide,
        cmap=cmap,
        vmin=-1,
        vmax=1,
        sig=sig,
        strip_prefix=strip_prefix,
        col_labels=labels,
    )
    fig.colorbar(
        im,
        ax=ax,
        label=f"scaled difference ({group1} - {group2})",
        shrink=min(1, 6 / height),
        pad=0.01,
    )
    a = d.attrs
    ax.set_title(
        f"{group1} (n={a['n1']}) vs {group2} (n={a['n2']})  "
        f"(dot: padj < {alpha:g}, |diff| >= {min_diff:g}; grey: low impact)",
        fontsize=9,
    )
    return finish(
        fig, ax, show=show, save=save, return_fig=return_fig, default_name=f"impact_diff_{group1}"
    )
