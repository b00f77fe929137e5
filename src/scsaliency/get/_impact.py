"""``get.impact``: the whole-data gene-set impacts as a tidy table."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData

from .._stored import impact_entry
from .._utils.docs import doc_params


@doc_params("impact_result")
def impact(adata: AnnData, key: str = "geneset_impact") -> pd.DataFrame:
    """Whole-data gene-set impacts as a tidy table.

    Parameters
    ----------
    {impact_result}

    Returns
    -------
    One row per (gene set, unit): ``gene_set``, ``unit`` (int, as in every table of
    :mod:`scsaliency.get`), ``impact``, ``scaled`` and, if
    computed, ``zscore``, ``pval``, ``padj``, ``pval_emp``.
    """
    e = impact_entry(adata, key)
    cols = [c for c in ("impact", "scaled", "zscore", "pval", "padj", "pval_emp") if c in e]
    long = [e[c].rename_axis(index="gene_set", columns="unit").stack().rename(c) for c in cols]
    table = pd.concat(long, axis=1).reset_index()
    table["unit"] = table["unit"].astype(np.int64)
    return table
