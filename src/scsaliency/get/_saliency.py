from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData

from .._stored import saliency_entry, saliency_frame


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
    One row per (gene, unit) for the model's genes: ``gene``, ``unit`` (int, as in every
    table of :mod:`scsaliency.get`), ``saliency``.
    """
    wide = saliency_frame(adata, key)
    if group is not None:
        e = saliency_entry(adata, key)
        if "groups" not in e:
            raise KeyError(f"uns[{key!r}] has no groups; run tl.saliency with groupby=.")
        names = [str(g) for g in e["groups"]]
        if group not in names:
            raise KeyError(f"{group!r} is not a group (groups: {names}).")
        wide.iloc[:, :] = np.asarray(e["group_maps"])[names.index(group)]
    wide = wide.rename_axis(index="gene", columns="unit")
    table = wide.stack().rename("saliency").reset_index()
    table["unit"] = table["unit"].astype(np.int64)
    return table
