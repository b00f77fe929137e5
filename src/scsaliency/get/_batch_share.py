"""``get.batch_share``: how much of each unit's activity the batches explain."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import stats as _stats
from .._utils import batches as _batches


def batch_share(
    adata: AnnData, batch_key: str | list[str], *, key: str = "ortho_ae"
) -> pd.DataFrame:
    """How much of each unit's activity lies between batches: a unit that tracks a batch.

    Per unit and batch column, eta squared: the share of the unit's variance over cells that
    lies between the batches' means (0: the batches do not differ on the unit, 1: the unit
    only tells the batches apart). A unit with a large share carries the batch, or biology
    that differs between the batches (other cell types per donor); train with
    ``tl.ortho_ae(batch_key=...)`` to keep technical batches out of the units.

    Parameters
    ----------
    adata
        AnnData with the representation ``obsm["X_" + key]`` (:func:`scsaliency.tl.ortho_ae`).
    batch_key
        The obs column(s) of the batches; any categorical column works, also ones the model
        was not trained with (a donor, a condition). Cells without a value are left out.
    key
        The model's ``key_added``.

    Returns
    -------
    One row per (batch column, unit): ``batch_key``, ``unit`` (``"0"``, ``"1"``, ...),
    ``share`` (eta squared; 0 for a unit that is constant over cells).
    """
    basis = "X_" + key
    if basis not in adata.obsm:
        raise KeyError(
            f"No representation in adata.obsm[{basis!r}]. Run scsaliency.tl.ortho_ae(adata, "
            f"key_added={key!r}) first."
        )
    rep = np.asarray(adata.obsm[basis], dtype=np.float64)
    keys = _batches.keys_of(batch_key)
    if not keys:
        raise ValueError("batch_key must name at least one obs column.")
    units = [str(u) for u in range(rep.shape[1])]
    frames = []
    for name in keys:
        values = _batches.labels(adata, name, missing=True)
        labelled = values.notna().to_numpy()
        codes = pd.Categorical(values[labelled]).codes
        share = _stats.eta_squared(rep[labelled], codes)
        frames.append(pd.DataFrame({"batch_key": name, "unit": units, "share": share}))
    return pd.concat(frames, ignore_index=True)
