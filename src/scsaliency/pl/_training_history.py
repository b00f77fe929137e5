from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from anndata import AnnData

from .._stored import history_of
from .._utils.docs import doc_params
from ._utils import finish


@doc_params("show_save")
def training_history(
    adata: AnnData,
    key: str = "ortho_ae",
    *,
    figsize: tuple[float, float] | None = None,
    show: bool | None = None,
    save: str | Path | bool | None = None,
    return_fig: bool = False,
):
    """Training curves of :func:`scsaliency.tl.ortho_ae`, read from ``uns[key]["history"]``.

    Three panels: train and validation loss; ``||I - W W^T||_F`` (log scale); the L2 norm of the
    singular values of the units' correlation matrix, with ``sqrt(n_latent)`` (uncorrelated
    units) as a dashed line. The best epoch, whose weights were kept, is marked in every panel.

    Parameters
    ----------
    adata
        AnnData with ``uns[key]``.
    key
        ``key_added`` of the model.
    figsize
        Figure size; default (12, 3.4).
    {show_save}

    Returns
    -------
    The three axes (or the figure with ``return_fig=True``; ``None`` when shown).
    """
    hist, params = history_of(adata, key)
    epochs = np.arange(1, len(hist) + 1)
    best = int(params["best_epoch"]) + 1
    fig, axes = plt.subplots(1, 3, figsize=figsize or (12, 3.4), layout="constrained")
    axes[0].plot(epochs, hist["train_loss"], label="train")
    axes[0].plot(epochs, hist["val_loss"], label="validation")
    # torch's Poisson NLL leaves out the constant log(k!), so the loss can go below 0.
    axes[0].set(ylabel="Poisson NLL without log(k!), per cell, + penalty", title="Loss")
    axes[0].legend(frameon=False)
    axes[1].plot(epochs, hist["ortho_penalty"], color="C2")
    axes[1].set(yscale="log", ylabel=r"$\|I - WW^T\|_F$", title="Orthogonality of weights")
    axes[2].plot(epochs, hist["unit_corr_norm"], color="C3")
    axes[2].axhline(
        np.sqrt(int(params["n_latent"])),
        color="grey",
        ls="--",
        lw=1,
        label=r"$\sqrt{n_{latent}}$ (uncorrelated)",
    )
    axes[2].set(ylabel="L2 norm of singular values", title="Correlation of units")
    axes[2].legend(frameon=False)
    for ax in axes:
        ax.axvline(best, color="k", ls=":", lw=1)
        ax.set_xlabel("epoch")
    axes[0].annotate(
        f"best epoch {best}",
        (best, 0.98),
        xycoords=("data", "axes fraction"),
        ha="right",
        va="top",
        fontsize=8,
        rotation=90,
    )
    return finish(
        fig, axes, show=show, save=save, return_fig=return_fig, default_name="training_history"
    )
