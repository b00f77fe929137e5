"""What ``scsaliency run`` writes besides the h5ad: UMAPs, figures and tables."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scanpy as sc
from anndata import AnnData

from .. import get, pl, tl


def _aligned_rep(adata: AnnData, seed: int, progress: bool) -> str | None:
    """``tl.align`` when the model has batches and the data more than one: its obsm key."""
    try:
        keys = get.batch_effects(adata, n_top=1)["batch_key"].unique()
    except ValueError:  # the model was trained without batch_key: nothing to align
        return None
    if all(adata.obs[k].nunique() < 2 for k in keys):
        return None
    tl.align(adata, random_state=seed, progress=progress)
    return "X_ortho_ae_aligned"


def umaps(
    adata: AnnData,
    mask: np.ndarray,
    groupby: str | None,
    seed: int,
    out: Path,
    *,
    progress: bool,
) -> None:
    """UMAP of the input (log-normalised counts, 50 PCs) next to UMAP of the representation.

    A model with batches: the representation's UMAP is built on it aligned (``tl.align``).
    """
    b = adata.copy()
    sc.pp.normalize_total(b, target_sum=1e4)
    sc.pp.log1p(b)
    sc.pp.pca(
        b, n_comps=min(50, int(mask.sum()) - 1, b.n_obs - 1), mask_var=mask, random_state=seed
    )
    sc.pp.neighbors(b, random_state=seed)
    sc.tl.umap(b, random_state=seed)
    adata.obsm["X_umap_input"] = b.obsm["X_umap"]
    # the square root evens out the activities' count-like noise (docs/usage.md)
    adata.obsm["X_ortho_ae_sqrt"] = np.sqrt(adata.obsm["X_ortho_ae"])
    aligned = _aligned_rep(adata, seed, progress)
    sc.pp.neighbors(
        adata,
        use_rep=aligned or "X_ortho_ae_sqrt",
        key_added="ortho_ae_neighbors",
        random_state=seed,
    )
    sc.tl.umap(adata, neighbors_key="ortho_ae_neighbors", random_state=seed)
    adata.obsm["X_umap_ortho_ae"] = adata.obsm.pop("X_umap")
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
    for ax, basis, title in [
        (axes[0], "umap_input", "UMAP of the input (50 PCs)"),
        (
            axes[1],
            "umap_ortho_ae",
            "UMAP of the ortho_ae representation (square root"
            + (", aligned across batches)" if aligned else ")"),
        ),
    ]:
        sc.pl.embedding(
            adata,
            basis=basis,
            color=groupby,
            ax=ax,
            show=False,
            title=title,
            legend_loc="right margin" if ax is axes[1] else None,
        )
    fig.savefig(out / "umap.png", dpi=120)
    plt.close(fig)


def figures(adata: AnnData, groupby: str | None, out: Path) -> dict[str, str]:
    """The heatmaps, the training history and one difference map per group, as PNG."""
    figures = {}
    for name, kwargs, caption in [
        (
            "impact_heatmap.png",
            {},
            "Which unit carries which gene set: z-scores against matched random sets, units "
            "labelled with the set they carry (dot: padj < 0.05)",
        ),
        (
            "impact_scaled.png",
            {"values": "scaled", "order": "cluster"},
            "The paper's view: min-max scaled impact, clustered",
        ),
    ]:
        pl.impact_heatmap(adata, save=out / name, show=False, **kwargs)
        plt.close("all")
        figures[name] = caption
    pl.training_history(adata, save=out / "training_history.png", show=False)
    plt.close("all")
    figures["training_history.png"] = "Training history"
    if groupby is not None:
        for g in _groups(adata, groupby):
            safe = "".join(c if c.isalnum() else "_" for c in g)
            name = f"impact_diff_{safe}.png"
            pl.impact_diff(adata, g, groupby=groupby, save=out / name, show=False)
            plt.close("all")
            figures[name] = f"{g} against the rest"
    return figures


def tables(
    adata: AnnData, groupby: str | None, out: Path, *, stability: bool
) -> tuple[list[str], list]:
    """Write the tables: ``impact.csv``, ``units.csv`` and, when present, the rest.

    ``geneset_stability.csv`` with repeated runs; ``impact_diff.csv`` (each group against the
    rest) with groups. ``stability``: ``tl.stability`` ran.
    """
    get.impact(adata).to_csv(out / "impact.csv", index=False)
    get.units(adata).to_csv(out / "units.csv", index=False)
    tables = ["impact.csv", "units.csv"]
    if stability:
        get.geneset_stability(adata).to_csv(out / "geneset_stability.csv", index=False)
        tables.append("geneset_stability.csv")
    diffs = []
    if groupby is not None:
        diffs = [get.impact_diff(adata, g) for g in _groups(adata, groupby)]
        pd.concat(
            d.assign(group1=d.attrs["group1"], group2="rest", test=d.attrs["test"]) for d in diffs
        ).to_csv(out / "impact_diff.csv", index=False)
        tables.append("impact_diff.csv")
    return tables, diffs


def _groups(adata: AnnData, groupby: str) -> list[str]:
    """The groups of ``groupby``, as ``tl.geneset_impact`` stored them.

    The command line made the column categorical from the labelled cells, so every category
    holds cells.
    """
    return [str(g) for g in adata.obs[groupby].cat.categories]
