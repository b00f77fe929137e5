from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

from .._stored import impact_entry, stored_units
from ._layout import shown_values
from ._utils import unit_labels


def top_units(adata: AnnData, gene_set: str, n: int = 4, key: str = "geneset_impact") -> list[int]:
    """The ``n`` units that carry ``gene_set`` most (from ``uns[key]``).

    Ranked by z-score when stored, else by the impact standardised per set, so that a unit
    ranks by what distinguishes it, not by the set's expression level.
    """
    score, _ = shown_values(impact_entry(adata, key), None)
    if gene_set not in score.index:
        raise KeyError(
            f"{gene_set!r} is not a gene set of uns[{key!r}] (e.g. {list(score.index[:5])})."
        )
    return [int(u) for u in score.loc[gene_set].dropna().sort_values(ascending=False).index[:n]]


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
        Instead of ``units``: the ``n_units`` units that carry this gene set most (highest
        z-score; needs :func:`scsaliency.tl.geneset_impact`).
    n_units
        Units shown with ``gene_set``.
    basis
        Embedding in ``obsm["X_" + basis]``, e.g. ``"umap"``.
    rep_key
        The representation in ``obsm``.
    impact_key
        ``key_added`` of the impact: for ``gene_set``, and for the panel titles, which name the
        set each unit carries (``"unit 13: NK"``, from :func:`scsaliency.get.units`) when it
        is stored.
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
    if isinstance(units, (int, np.integer)):
        units = [units]
    odd = [u for u in units if not _whole(u)]
    if odd:
        raise TypeError(f"units must be whole unit numbers (0, 1, ...), got {odd}.")
    units = [int(u) for u in units]
    bad = [u for u in units if not 0 <= u < rep.shape[1]]
    if bad:
        raise ValueError(f"Units {bad} do not exist; the representation has {rep.shape[1]}.")
    import scanpy as sc

    table = stored_units(adata, impact_key) if impact_key in adata.uns else None
    if table is not None:
        names = ["unit " + lab for lab in unit_labels(table, units)]
    else:
        names = [f"unit {u}" for u in units]
    obs = pd.DataFrame(rep[:, list(units)], index=adata.obs_names, columns=names)
    view = AnnData(obs=obs, obsm={f"X_{basis}": np.asarray(adata.obsm[f"X_{basis}"])})
    return sc.pl.embedding(view, basis=basis, color=names, **kwargs)


def _whole(value) -> bool:
    """Whether ``value`` is a whole number (``3``, ``np.int64(3)``, ``3.0``), not a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return float(value).is_integer()
