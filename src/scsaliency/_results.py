"""Read results that ``tl.saliency`` and ``tl.geneset_impact`` stored, with clear errors.

Shared by the tools, getters and plots that build on a stored result.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from anndata import AnnData


def saliency_frame(adata: AnnData, key: str = "saliency") -> pd.DataFrame:
    """Model genes x units of ``varm[key]`` as a DataFrame (units named ``"0"``, ``"1"``, ...)."""
    entry = adata.uns.get(key)
    if not isinstance(entry, Mapping) or "var_names" not in entry or key not in adata.varm:
        raise KeyError(
            f"No saliency under {key!r}. Run scsaliency.tl.saliency(adata, "
            f"key_added={key!r}) first."
        )
    genes = np.asarray(entry["var_names"]).astype(str)
    m = adata.varm[key][adata.var_names.get_indexer(genes)]
    return pd.DataFrame(m, index=genes, columns=[str(k) for k in range(m.shape[1])])


def impact_entry(adata: AnnData, key: str = "geneset_impact") -> Mapping:
    """``adata.uns[key]`` checked to hold a gene-set impact, with a clear error otherwise."""
    entry = adata.uns.get(key)
    if not isinstance(entry, Mapping) or "impact" not in entry or "scaled" not in entry:
        raise KeyError(
            f"No gene-set impact in adata.uns[{key!r}]. Run "
            f"scsaliency.tl.geneset_impact(adata, gene_sets, key_added={key!r}) first."
        )
    return entry
