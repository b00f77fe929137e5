"""``pl.impact_heatmap``: which unit carries which gene set (the paper's Figures 1d and 2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from anndata import AnnData

from .._core.labels import significant
from .._core.stats import minmax
from .._stored import impact_entry, set_runs, stored_units
from .._utils.docs import doc_params
from ..get import impact_diff as get_impact_diff
from ._layout import auto_size, draw, layout, shown_values
from ._utils import GREYED, clean_name, finish, grey_seed_sets, grey_unstable, unit_labels


@doc_params("show_save")
def impact_heatmap(
    adata: AnnData,
    key: str = "geneset_impact",
    *,
    groups: str | Sequence[str] | bool | None = None,
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
    significantly above the rest (Welch, ``padj < alpha``). After :func:`scsaliency.tl.stability`
    the labels of unstable units are grey, and so are the names of gene sets that some unit
    carries in at most half of its runs (:func:`scsaliency.get.geneset_stability`): findings
    of the seed.

    Parameters
    ----------
    adata
        AnnData with ``uns[key]`` from :func:`scsaliency.tl.geneset_impact`.
    key
        The impact's ``key_added``.
    groups
        Group names to draw one panel each (a string: one group), or ``True`` for all groups
        (needs ``groupby`` in ``tl.geneset_impact``).
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
    {show_save}

    Returns
    -------
    The axes (a list with ``groups``), the figure with ``return_fig=True``, or ``None`` when
    shown.
    """
    e = impact_entry(adata, key)
    table, label = shown_values(e, values)
    rows, cols = layout(e, values, min_impact=min_impact, top=top, order=order)
    table_units = stored_units(adata, key)
    labels = unit_labels(table_units, cols, strip_prefix)
    width, height = auto_size(rows, labels, strip_prefix)
    if groups is None or groups is False:
        fig, ax = _whole_panel(
            e,
            table.loc[rows, cols],
            label,
            labels,
            alpha=alpha,
            cmap=cmap,
            ax=ax,
            size=figsize or (width, height),
            strip_prefix=strip_prefix,
        )
        grey_unstable(ax, table_units, cols)
        runs = set_runs(adata, key)
        grey_seed_sets(ax, runs, rows)
        if runs is not None:
            ax.set_title(f"{ax.get_title()}\ngrey: {GREYED}", fontsize=9)
        return finish(
            fig, ax, show=show, save=save, return_fig=return_fig, default_name="impact_heatmap"
        )
    if "groups" not in e:
        raise KeyError(f"uns[{key!r}] has no groups; run tl.geneset_impact with groupby=.")
    names = [str(g) for g in e["groups"]]
    if isinstance(groups, str):  # one group, as in scanpy: "NK" is not "N" and "K"
        groups = [groups]
    chosen = names if groups is True else [str(g) for g in groups]
    unknown = [g for g in chosen if g not in names]
    if unknown:
        raise KeyError(f"Unknown groups {unknown}; groups are {names}.")
    if ax is not None:
        raise ValueError("ax= draws a single panel; leave it out with groups=.")
    fig, axes = _group_panels(
        adata,
        key,
        chosen,
        rows,
        cols,
        labels,
        alpha=alpha,
        min_diff=min_diff,
        cmap=cmap,
        ncols=ncols,
        figsize=figsize,
        strip_prefix=strip_prefix,
    )
    return finish(
        fig,
        axes,
        show=show,
        save=save,
        return_fig=return_fig,
        default_name="impact_heatmap_groups",
    )


def _group_panels(
    adata: AnnData,
    key: str,
    chosen: list[str],
    rows: list[str],
    cols: list[str],
    col_labels: list[str],
    *,
    alpha: float,
    min_diff: float,
    cmap: str | None,
    ncols: int,
    figsize: tuple[float, float] | None,
    strip_prefix: bool,
):
    """One panel per group: its mean per-cell impact, dots where it is above the rest."""
    e = impact_entry(adata, key)
    names = [str(g) for g in e["groups"]]
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
    table_units, runs = stored_units(adata, key), set_runs(adata, key)
    for k, (g, a) in enumerate(zip(chosen, axes.flat, strict=False)):
        mean = np.asarray(e["group_mean"])[names.index(g)]
        scaled = minmax(mean)
        m = pd.DataFrame(scaled[np.ix_(ri, ci)], index=rows, columns=cols)
        d = get_impact_diff(adata, g, "rest", key=key)
        d = d.set_index(["gene_set", "unit"])
        idx = pd.MultiIndex.from_product([rows, [int(c) for c in cols]])
        sel = d.loc[idx]
        sig = ((sel["padj"] < alpha) & (sel["scaled_diff"] >= min_diff)).to_numpy()
        im = draw(
            a,
            m,
            cmap=cmap,
            vmin=0,
            vmax=1,
            sig=sig.reshape(len(rows), len(cols)),
            strip_prefix=strip_prefix,
            col_labels=col_labels,
        )
        grey_unstable(a, table_units, cols)
        grey_seed_sets(a, runs, rows)
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
    return fig, list(axes.flat)[:n]


def _whole_panel(
    e: Mapping,
    m: pd.DataFrame,
    label: str,
    col_labels: list[str],
    *,
    alpha: float,
    cmap: str | None,
    ax: plt.Axes | None,
    size: tuple[float, float],
    strip_prefix: bool,
):
    """The whole-data panel: colours, significance dots (the units table's rule), title."""
    rows, cols = list(m.index), list(m.columns)
    if ax is None:
        fig, ax = plt.subplots(figsize=size, layout="constrained")
    else:
        fig = ax.figure
    sig = None
    if "padj" in e:  # the units table's rule: with and without the set's top gene
        trimmed = e["padj_trimmed"].loc[rows, cols].to_numpy() if "padj_trimmed" in e else None
        sig = significant(e["padj"].loc[rows, cols].to_numpy(), trimmed, alpha)
    if label == "scaled impact":
        lim = (0, 1)
    else:
        vmax = float(np.nanpercentile(np.abs(m.to_numpy(dtype=float)), 99)) or 1.0
        lim = (-vmax, vmax)
    cmap = cmap or ("viridis" if label == "scaled impact" else "RdBu_r")
    im = draw(
        ax,
        m,
        cmap=cmap,
        vmin=lim[0],
        vmax=lim[1],
        sig=sig,
        strip_prefix=strip_prefix,
        col_labels=col_labels,
    )
    fig.colorbar(im, ax=ax, label=label, shrink=min(1, 6 / size[1]), pad=0.01)
    title = {
        "scaled impact": "Scaled gene-set impact on units (min-max over the whole table)",
        "impact, standardised per set": "Gene-set impact on units, standardised per set",
    }.get(label, "Gene-set impact on units, z-score against expression-matched random sets")
    if sig is not None:
        title += f"  (dot: padj < {alpha:g}, with and without the set's top gene)"
    ax.set_title(title, fontsize=9)
    return fig, ax
