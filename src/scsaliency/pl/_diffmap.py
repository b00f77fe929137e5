"""``pl.impact_diff``: how two groups of cells differ, unit by unit (the paper's Figure 1e)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from anndata import AnnData

from .._docs import doc_params
from .._results import impact_entry, units_table
from ..get import impact_diff as get_impact_diff
from ._layout import auto_size, draw, layout
from ._utils import finish, grey_unstable, unit_labels


@doc_params("show_save")
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
    {show_save}

    Returns
    -------
    The axes, the figure with ``return_fig=True``, or ``None`` when shown.
    """
    e = impact_entry(adata, key)
    stored = e.get("params", {}).get("groupby")
    if stored != groupby:
        raise ValueError(
            f"uns[{key!r}] was computed with groupby={stored!r}, not {groupby!r}; "
            f"run tl.geneset_impact(adata, ..., groupby={groupby!r})."
        )
    d = get_impact_diff(adata, group1, group2, key=key)
    rows, cols = layout(e, values, min_impact=min_impact, top=top, order=order)
    table_units = units_table(adata, key)
    labels = unit_labels(table_units, cols, strip_prefix)
    wide = d.pivot(index="gene_set", columns="unit", values="scaled_diff").loc[rows, cols]
    padj = d.pivot(index="gene_set", columns="unit", values="padj").loc[rows, cols]
    if mask_low:
        wide = wide.where(e["scaled"].loc[rows, cols] >= min_impact)
    width, height = auto_size(rows, labels, strip_prefix)
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize or (width, height), layout="constrained")
    else:
        fig = ax.figure
    sig = (padj.to_numpy() < alpha) & wide.notna().to_numpy() & (wide.abs().to_numpy() >= min_diff)
    im = draw(
        ax,
        wide,
        cmap=cmap,
        vmin=-1,
        vmax=1,
        sig=sig,
        strip_prefix=strip_prefix,
        col_labels=labels,
    )
    grey_unstable(ax, table_units, cols)
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
