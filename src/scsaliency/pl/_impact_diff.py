"""``pl.impact_diff``: how two groups of cells differ, unit by unit (the paper's Figure 1e)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from anndata import AnnData

from .._stored import impact_entry, set_runs, stored_units
from .._utils.docs import doc_params
from ..get import impact_diff as get_impact_diff
from ._layout import auto_size, draw, layout
from ._utils import GREYED, finish, grey_seed_sets, grey_unstable, unit_labels


@doc_params("show_save")
def impact_diff(
    adata: AnnData,
    group1: str,
    group2: str = "rest",
    *,
    key: str = "geneset_impact",
    groupby: str | None = None,
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

    The scaled difference of :func:`scsaliency.get.impact_diff` (both groups min-max scaled on
    one common scale, so 0 is no difference; red: higher in ``group1``) on a diverging colour
    map centred at 0 and spanning the largest difference shown, for the same sets and units as
    :func:`impact_heatmap`; with ``mask_low``, pairs whose whole-data scaled impact is below
    ``min_impact`` are grey, so the difference is shown over the high-impact cells of the
    whole-data map. A dot marks significant differences (``padj < alpha``) of at least
    ``min_diff``; the title names the test that ran, and says so when cells were the
    replicates (which overstates significance when the cells come from several samples). After
    :func:`scsaliency.tl.stability`, unstable units and gene sets carried in at most half of its
    runs have grey labels, as in :func:`impact_heatmap`.

    Parameters
    ----------
    adata
        AnnData with ``uns[key]`` from :func:`scsaliency.tl.geneset_impact` with ``groupby``.
    group1, group2
        Groups to compare; ``group2="rest"`` is all other labelled cells. The same arguments,
        in the same order, as :func:`scsaliency.get.impact_diff`.
    key
        The impact's ``key_added``.
    groupby
        The ``obs`` column the impact was grouped by; checked when given.
    min_impact, top, values, order, strip_prefix, figsize, ax
        As in :func:`impact_heatmap`: the same rows and columns, in the same order.
    alpha
        Threshold on the adjusted p for the dots.
    min_diff
        Dots only where also ``|scaled difference| >= min_diff`` (a share of the two groups'
        common range): with thousands of cells as replicates, tiny differences are significant too.
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
    d = get_impact_diff(adata, group1, group2, key=key, groupby=groupby)
    rows, cols = layout(e, values, min_impact=min_impact, top=top, order=order)
    table_units = stored_units(adata, key)
    labels = unit_labels(table_units, cols, strip_prefix)
    d = d.assign(unit=d["unit"].astype(str))  # the stored tables' column names
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
    shown = np.abs(wide.to_numpy(dtype=float))
    limit = float(np.nanmax(shown)) if np.isfinite(shown).any() else 0.0
    limit = limit if limit > 0 else 1.0
    im = draw(
        ax,
        wide,
        cmap=cmap,
        vmin=-limit,
        vmax=limit,
        sig=sig,
        strip_prefix=strip_prefix,
        col_labels=labels,
    )
    grey_unstable(ax, table_units, cols)
    runs = set_runs(adata, key)
    grey_seed_sets(ax, runs, rows)
    fig.colorbar(
        im,
        ax=ax,
        label=f"{group1} - {group2}, on one scale for both groups",
        shrink=min(1, 6 / height),
        pad=0.01,
    )
    title = _title(d.attrs, alpha=alpha, min_diff=min_diff)
    # grey cells are low impact here; the labels' grey needs its own words
    title += f"\ngrey labels: {GREYED}" if runs is not None else ""
    ax.set_title(title, fontsize=9)
    return finish(
        fig, ax, show=show, save=save, return_fig=return_fig, default_name=f"impact_diff_{group1}"
    )


def _title(a, *, alpha: float, min_diff: float) -> str:
    """Which groups, which test, and what the dots and grey mean."""
    test = a["test"]
    if "no test" in test:
        test += "; colours are the differences alone"
    elif test.startswith("cells"):
        test += " (cells as replicates overstate significance when they come from several samples)"
    else:
        test += f" over {a['samples1']} and {a['samples2']} samples of obs[{a['sample_key']!r}]"
    return (
        f"{a['group1']} (n={a['n1']}) vs {a['group2']} (n={a['n2']}): difference in impact\n"
        f"dot: padj < {alpha:g} and |difference| >= {min_diff:g}, {test}; grey: low impact"
    )
