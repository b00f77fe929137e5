"""``get.batch_effects``: each batch's factor on the rate, per gene."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData

from .._stored import StoredModel
from .._utils import validate as _validate


def batch_effects(
    adata: AnnData, key: str = "ortho_ae", *, n_top: int | None = None
) -> pd.DataFrame:
    """Which genes each batch moves: the model's batch factors as a tidy table.

    A model trained with ``batch_key`` multiplies each gene's rate by a factor per batch
    (technology-specific capture, a run's chemistry); these factors are what the model keeps
    out of its units. Reported relative to the average batch of each ``batch_key`` column.

    Parameters
    ----------
    adata
        AnnData holding a model in ``uns[key]`` trained with ``batch_key`` (or transferred,
        with the batches it fitted).
    key
        The model's ``key_added``.
    n_top
        Keep each batch's ``n_top`` genes with the largest absolute factor; ``None`` keeps all.

    Returns
    -------
    One row per (batch, gene), sorted by ``batch_key``, batch and rank: ``batch_key``,
    ``batch``, ``gene``, ``log2_fold_change`` (the batch's rate over the average batch's, log2)
    and ``rank`` (1 for the batch's largest absolute change).
    """
    _validate.check_integers(1, n_top=n_top)
    model = StoredModel.load(adata, key)
    cats = model.batch_categories
    if not cats:
        raise ValueError(
            f"The model in adata.uns[{key!r}] was trained without batch_key; it has no batch "
            "factors. Train with scsaliency.tl.ortho_ae(adata, batch_key=...)."
        )
    factors = model.module.batch_factors().detach().numpy() / np.log(2)  # batches x genes
    genes = model.var_names
    keep = len(genes) if n_top is None else min(int(n_top), len(genes))
    frames, row = [], 0
    for batch_key, names in cats.items():
        for name in names:
            f = factors[row]
            order = np.argsort(-np.abs(f), kind="stable")[:keep]
            frames.append(
                pd.DataFrame(
                    {
                        "batch_key": batch_key,
                        "batch": name,
                        "gene": genes[order],
                        "log2_fold_change": f[order].astype(np.float32),
                        "rank": np.arange(1, keep + 1, dtype=np.int64),
                    }
                )
            )
            row += 1
    return pd.concat(frames, ignore_index=True)
