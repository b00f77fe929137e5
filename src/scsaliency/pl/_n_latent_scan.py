from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from anndata import AnnData

from .._stored import scan_entry
from .._utils.docs import doc_params
from ._utils import finish


@doc_params("show_save")
def n_latent_scan(
    adata: AnnData,
    key: str = "n_latent_scan",
    *,
    ax: plt.Axes | None = None,
    figsize: tuple[float, float] = (5.0, 3.4),
    show: bool | None = None,
    save: str | Path | bool | None = None,
    return_fig: bool = False,
):
    """Stability and validation loss over numbers of units, as cNMF's K selection plot.

    Left axis: the median matched cosine between runs' programs (higher: the programs come back
    whatever the seed), with the share of units above the threshold dashed. Right axis: the
    validation loss (lower: the model explains held-out cells better). Read from what
    :func:`scsaliency.tl.n_latent_scan` stored.

    Parameters
    ----------
    adata
        AnnData with ``uns[key]`` from :func:`scsaliency.tl.n_latent_scan`.
    key
        Its ``key_added``.
    ax
        Axes to draw into; a new figure when ``None``.
    figsize
        Size of a new figure.
    {show_save}

    Returns
    -------
    The left axes (or the figure with ``return_fig=True``; ``None`` when shown).
    """
    entry = scan_entry(adata, key)
    t = entry["table"].sort_values("n_latent")
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    else:
        fig = ax.figure
    ax.plot(t["n_latent"], t["stability"], "o-", color="C0", label="median matched cosine")
    threshold = entry["params"]["threshold"]
    ax.plot(t["n_latent"], t["stable_share"], "o--", color="C0", label=f"share above {threshold:g}")
    ax.set_xlabel("number of units (n_latent)")
    ax.set_ylabel("stability across seeds", color="C0")
    ax.set_ylim(0, 1.02)
    right = ax.twinx()
    right.plot(t["n_latent"], t["val_loss"], "s-", color="C3")
    right.set_ylabel("validation loss (Poisson NLL + penalty)", color="C3")
    ax.legend(loc="lower left", fontsize=7)
    ax.set_title(
        f"Choosing the number of units ({entry['params']['n_runs']} runs each)", fontsize=9
    )
    return finish(
        fig, ax, show=show, save=save, return_fig=return_fig, default_name="n_latent_scan"
    )
