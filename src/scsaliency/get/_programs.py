from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData

from .._stored import StoredModel, program_counts
from .._utils import validate as _validate


def programs(adata: AnnData, key: str = "ortho_ae", *, n_top: int | None = None) -> pd.DataFrame:
    """Gene programs of the additive decoder as a tidy table: what each unit adds to a cell.

    A unit's program is the fold change over each gene's mean that one unit of the unit's
    activity adds to the cell's expected counts (``rate = s * (z @ programs + baseline)``, both
    relative to each gene's mean), as NMF's components or LDVAE's loadings are read. It is the
    model's own description of a unit, next to the saliency, which says which genes drive it.

    Parameters
    ----------
    adata
        AnnData holding a model in ``uns[key]`` (from :func:`scsaliency.tl.ortho_ae` or
        :func:`scsaliency.tl.transfer`) trained with the additive decoder.
    key
        The model's ``key_added``.
    n_top
        Keep each unit's ``n_top`` genes with the largest fold change; ``None`` keeps all.

    Returns
    -------
    One row per (unit, gene), sorted by unit and rank: ``unit`` (int), ``gene``, ``fold_change``
    (per unit of activity), ``counts`` (expected counts added per unit of activity in a cell of
    the median library size) and ``rank`` (1 for the unit's largest fold change). The same
    fold changes are stored by ``tl.ortho_ae`` as ``adata.varm[key + "_programs"]`` (genes x
    units, NaN for genes the model does not use).
    """
    _validate.check_integers(1, n_top=n_top)
    model = StoredModel.load(adata, key)
    fold = model.programs()
    if fold is None:
        raise ValueError(
            f"The model in adata.uns[{key!r}] has the mlp decoder, which has no gene programs; "
            "train with decoder='additive' (the default) for programs."
        )
    counts = program_counts(model.entry)
    n_units, n_genes = fold.shape
    order = np.argsort(-fold, axis=1, kind="stable")
    keep = n_genes if n_top is None else min(int(n_top), n_genes)
    order = order[:, :keep]
    rows = np.repeat(np.arange(n_units), keep)
    cols = order.ravel()
    return pd.DataFrame(
        {
            "unit": rows.astype(np.int64),
            "gene": model.var_names[cols],
            "fold_change": fold[rows, cols],
            "counts": counts[rows, cols].astype(np.float32),
            "rank": np.tile(np.arange(1, keep + 1), n_units).astype(np.int64),
        }
    )
