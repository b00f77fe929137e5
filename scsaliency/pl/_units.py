from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from anndata import AnnData


def top_units(adata: AnnData, gene_set: str, n: int = 4, key: str = "geneset_impact") -> list[int]:
    """The ``n`` units on which ``gene_set`` has the highest impact (from ``uns[key]``)."""
    impact = adata.uns[key]["impact"]
    if gene_set not in impact.index:
        raise KeyError(
            f"{gene_set!r} is not a gene set of uns[{key!r}] (e.g. {list(impact.index[:5])})."
        )
    return [int(u) for u in impact.loc[gene_set].sort_values(ascending=False).index[:n]]


def unit_activity(
    adata: AnnData,
    units: Sequence[int] | None = None,
    *,
    gene_set: str | None = None,
    n_units: int = 4,
    basis: str = "umap",
    rep_key: str = "X_ortho_ae",
    impact_key: str = "geneset_impact",
    **kwargs,
):
    """Activity of representation units per cell on an embedding, drawn by :func:`sc.pl.embedding`.

    Parameters
    ----------
    adata
        AnnData with ``obsm[rep_key]`` and ``obsm["X_" + basis]``.
    units
        Unit indices to colour by.
    gene_set
        Instead of ``units``: the ``n_units`` units with the highest impact of this gene set
        (needs :func:`scsaliency.tl.geneset_impact`).
    n_units
        Units shown with ``gene_set``.
    basis
        Embedding in ``obsm["X_" + basis]``, e.g. ``"umap"``.
    rep_key
        The representation in ``obsm``.
    impact_key
        ``key_added`` of the impact, for ``gene_set``.
    **kwargs
        Passed to :func:`scanpy.pl.embedding` (``ax``, ``show``, ``save``, ``return_fig``,
        ``ncols``, ``cmap``, ...).

    Returns
    -------
    What :func:`scanpy.pl.embedding` returns. ``adata`` is not modified: the units are shown
    through a light AnnData that shares the embedding.
    """
    if rep_key not in adata.obsm:
        raise KeyError(f"No representation in adata.obsm[{rep_key!r}]; run scsaliency.tl.ortho_ae.")
    if f"X_{basis}" not in adata.obsm:
        raise KeyError(f"No embedding adata.obsm['X_{basis}']; compute it, e.g. sc.tl.umap.")
    if units is None:
        if gene_set is None:
            raise ValueError("Pass units= or gene_set=.")
        units = top_units(adata, gene_set, n_units, impact_key)
    rep = np.asarray(adata.obsm[rep_key])
    bad = [u for u in units if not 0 <= u < rep.shape[1]]
    if bad:
        raise ValueError(f"Units {bad} do not exist; the representation has {rep.shape[1]}.")
    import scanpy as sc

    names = [f"unit {u}" for u in units]
    obs = pd.DataFrame(rep[:, list(units)], index=adata.obs_names, columns=names)
    view = AnnData(obs=obs, obsm={f"X_{basis}": np.asarray(adata.obsm[f"X_{basis}"])})
    return sc.pl.embedding(view, basis=basis, color=names, **kwargs)
