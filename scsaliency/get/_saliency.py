from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData


def saliency_frame(adata: AnnData, key: str = "saliency") -> pd.DataFrame:
    """Model genes x units of ``varm[key]`` as a DataFrame (units named ``"0"``, ``"1"``, ...)."""
    if key not in adata.uns or "var_names" not in adata.uns[key] or key not in adata.varm:
        raise KeyError(
            f"No saliency under {key!r}. Run scsaliency.tl.saliency(adata, "
            f"key_added={key!r}) first."
        )
    genes = np.asarray(adata.uns[key]["var_names"]).astype(str)
    m = adata.varm[key][adata.var_names.get_indexer(genes)]
    return pd.DataFrame(m, index=genes, columns=[str(k) for k in range(m.shape[1])])


def saliency(adata: AnnData, key: str = "saliency", *, group: str | None = None) -> pd.DataFrame:
    """Saliency maps as a tidy table.

    Parameters
    ----------
    adata
        AnnData with ``varm[key]`` and ``uns[key]`` from :func:`scsaliency.tl.saliency`.
    key
        Its ``key_added``.
    group
        A group of the ``groupby`` used in ``tl.saliency``; ``None`` for the whole-data map.

    Returns
    -------
    One row per (gene, unit) for the model's genes: ``gene``, ``unit``, ``saliency``.
    """
    wide = saliency_frame(adata, key)
    if group is not None:
        e = adata.uns[key]
        if "groups" not in e:
            raise KeyError(f"uns[{key!r}] has no groups; run tl.saliency with groupby=.")
        names = [str(g) for g in e["groups"]]
        if group not in names:
            raise KeyError(f"{group!r} is not a group (groups: {names}).")
        wide.iloc[:, :] = np.asarray(e["group_maps"])[names.index(group)]
    wide = wide.rename_axis(index="gene", columns="unit")
    return wide.stack().rename("saliency").reset_index()
