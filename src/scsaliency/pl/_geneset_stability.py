from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from anndata import AnnData
from matplotlib.patches import Patch

from .._stored import SEED_DEPENDENT, min_zscore, stability_entry
from .._utils import validate as _validate
from .._utils.docs import doc_params
from ..get import geneset_stability as stability_table
from ._utils import clean_name, finish, grey_seed_sets


@doc_params("stability_model", "show_save")
def geneset_stability(
    adata: AnnData,
    key: str = "ortho_ae",
    *,
    n_top: int | None = 30,
    strip_prefix: bool = True,
    ax: plt.Axes | None = None,
    figsize: tuple[float, float] | None = None,
    show: bool | None = None,
    save: str | Path | bool | None = None,
    return_fig: bool = False,
):
    """In how many repeated runs some unit carries each gene set: the seed-independent findings.

    One bar per gene set that some run carries, the share of :func:`scsaliency.tl.stability`'s
    runs (the model included) in which some unit carries it, most often carried first. A set
    near 1 does not depend on the seed, whichever unit carries it; a set at or left of the
    dashed line (half of the runs) was carried by chance of the seed, and the other plots grey
    its name. Bold names: a median z-score over the runs of at least ``tl.stability``'s
    ``min_zscore`` (5 by default; ``median_zscore``, the sets that reproduced best between
    answers with other seeds, :doc:`/benchmarks`); dark bars: sets that a consensus program
    carries (:func:`scsaliency.get.units`' ``consensus_sets``: each bold set, where a
    consensus program holds it); a dot: the model's own units carry the set. Read from
    :func:`scsaliency.get.geneset_stability`.

    Parameters
    ----------
    {stability_model}
    n_top
        Show the ``n_top`` most often carried sets; ``None`` shows every set some run carries.
        Lower it for a compact figure, raise it to see the rarely carried sets.
    strip_prefix
        Drop ``HALLMARK_``/``DMAP_``/``MARKERS_`` and underscores from the set names.
    ax
        Axes to draw into; a new figure when ``None``.
    figsize
        Size of a new figure; ``None`` grows with the number of sets.
    {show_save}

    Returns
    -------
    The axes (or the figure with ``return_fig=True``; ``None`` when shown).
    """
    _validate.check_integers(1, n_top=n_top)
    table = stability_table(adata, key)
    table = table[table["runs"] > 0]
    if n_top is not None:
        table = table.head(int(n_top))
    if table.empty:
        raise ValueError(
            f"No gene set is carried in any run of adata.uns[{key!r}]['stability']: nothing "
            "to plot (see scsaliency.get.geneset_stability)."
        )
    n = len(table)
    if ax is None:
        size = figsize or (5.5, 1.0 + 0.22 * n)
        fig, ax = plt.subplots(figsize=size, layout="constrained")
    else:
        fig = ax.figure
    y = np.arange(n)
    if "consensus_program" in table:
        consensus = table["consensus_program"].to_numpy() >= 0
    else:  # results stored before one program per set: how many programs carried it
        consensus = table["consensus_programs"].to_numpy() > 0
    colours = np.where(consensus, "C0", "#a6c8e6")
    ax.barh(y, table["runs"], color=colours, height=0.7)
    own = table["in_model"].to_numpy(dtype=bool)
    ax.plot(table["runs"].to_numpy()[own], y[own], "o", color="k", markersize=3)
    ax.axvline(SEED_DEPENDENT, color="0.4", linestyle="--", linewidth=0.8)
    names = [clean_name(s, strip_prefix) for s in table["gene_set"]]
    ax.set_yticks(y, names, fontsize=7)
    params = stability_entry(adata, key)["params"]
    cut = min_zscore(params)
    strong = (
        table["median_zscore"].to_numpy() >= cut
        if "median_zscore" in table
        else np.zeros(n, dtype=bool)
    )
    grey_seed_sets(ax, table.set_index("gene_set")["runs"], table["gene_set"])
    for tick, bold in zip(ax.get_yticklabels(), strong, strict=True):
        if bold:
            tick.set_fontweight("bold")
    ax.invert_yaxis()
    ax.set_xlim(0, 1.02)
    ax.set_xlabel(
        "share of runs in which some unit carries the set"
        + (f" (bold: median z >= {cut:g})" if strong.any() else "")
    )
    total = int(params["n_runs"]) + 1  # the model's run too
    ax.set_title(f"Gene sets carried across {total} runs (tl.stability)", fontsize=9)
    ax.legend(
        handles=[
            Patch(color="C0", label="a consensus program carries it"),
            Patch(color="#a6c8e6", label="no consensus program"),
            plt.Line2D(
                [],
                [],
                marker="o",
                color="k",
                linestyle="",
                markersize=3,
                label="the model carries it",
            ),
        ],
        loc="lower right",
        fontsize=6,
    )
    return finish(
        fig, ax, show=show, save=save, return_fig=return_fig, default_name="geneset_stability"
    )
