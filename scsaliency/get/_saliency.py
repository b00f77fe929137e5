from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData


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
    if key not in adata.uns or "var_names" not in adata.uns[key]:
        raise KeyError(
            f"No saliency under {key!r}. Run scsaliency.tl.saliency(adata, "
            f"key_added={key!r}) first."
        )
    e = adata.uns[key]
    genes = np.asarray(e["var_names"]).astype(str)
    if group is None:
        m = adata.varm[key][adata.var_names.get_indexer(genes)]
    else:
        if "groups" not in e:
            raise KeyError(f"uns[{key!r}] has no groups; run tl.saliency with groupby=.")
        names = [str(g) for g in e["groups"]]
        if group not in names:
            raise KeyError(f"{group!r} is not a group (groups: {names}).")
        m = np.asarray(e["group_maps"])[names.index(group)]
    wide = pd.DataFrame(
        m,
        index=pd.Index(genes, name="gene"),
        columns=pd.Index([str(k) for k in range(m.shape[1])], name="unit"),
    )
    return wide.stack().rename("saliency").reset_index()
