"""Batch covariates: ``obs`` columns checked, their categories, and one-hot columns for the network.

Shared by :func:`scsaliency.tl.ortho_ae` (which stores the categories with the model),
:class:`scsaliency._stored.StoredModel` (which rebuilds the columns for any AnnData the model
is applied to), :func:`scsaliency.tl.transfer` and :func:`scsaliency.get.batch_effects`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from anndata import AnnData


def keys_of(batch_key: str | Sequence[str] | None) -> list[str]:
    """``batch_key`` as a list of column names (empty for ``None``)."""
    if batch_key is None:
        return []
    keys = [batch_key] if isinstance(batch_key, str) else list(batch_key)
    if not all(isinstance(k, str) and k for k in keys) or len(set(keys)) != len(keys):
        raise ValueError(
            f"batch_key must be an obs column name or a list of distinct names, got {batch_key!r}."
        )
    return keys


def labels(adata: AnnData, key: str, *, missing: bool = False) -> pd.Series:
    """The batch labels of ``obs[key]`` as strings, checked: categorical, no missing value.

    ``missing``: cells without a value are allowed and stay NaN (for measures that leave them
    out, as :func:`scsaliency.get.batch_share`).
    """
    if key not in adata.obs.columns:
        raise KeyError(
            f"batch_key={key!r} is not a column of adata.obs (columns: {list(adata.obs.columns)})."
        )
    col = adata.obs[key]
    if pd.api.types.is_float_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype):
        raise ValueError(
            f"batch_key={key!r} is a float column; a batch is a category (a donor, a run, a "
            "technology). Convert it, e.g. adata.obs[key] = adata.obs[key].astype(str)."
        )
    if col.isna().any():
        if missing:
            return col.astype(str).where(col.notna())
        raise ValueError(
            f"obs[{key!r}] has {int(col.isna().sum())} cells without a batch; give them one "
            "(e.g. 'unknown') or leave them out."
        )
    return col.astype(str)


def categories(adata: AnnData, keys: Sequence[str]) -> dict[str, list[str]]:
    """Each key's batches in a fixed order (categorical order, else sorted), checked.

    Every batch needs at least 2 cells: a batch's factors are fitted on its own cells.
    """
    out = {}
    for key in keys:
        values = labels(adata, key)
        col = adata.obs[key]
        if isinstance(col.dtype, pd.CategoricalDtype):
            cats = [str(c) for c in col.cat.categories if (col == c).any()]
        else:
            cats = sorted(values.unique())
        counts = values.value_counts()
        small = [c for c in cats if counts.get(c, 0) < 2]
        if small:
            raise ValueError(
                f"obs[{key!r}] has batches with fewer than 2 cells ({', '.join(small[:5])}); "
                "merge them into another batch or leave their cells out."
            )
        out[key] = cats
    return out


def more_than_one(cats: Mapping[str, Sequence[str]]) -> bool:
    """Whether some key of ``cats`` (from :func:`categories`) holds at least two batches.

    With one batch per key there is nothing to align across (``tl.align``, the command line).
    """
    return any(len(c) >= 2 for c in cats.values())


def onehot(
    adata: AnnData, cats: Mapping[str, Sequence[str]]
) -> tuple[np.ndarray, np.ndarray, dict[str, list[str]]]:
    """Cells x batches one-hot (all keys side by side), the key index of each column, unknowns.

    ``unknowns`` maps a key to the batches of ``adata`` that ``cats`` lacks; their cells get no
    column of that key (all zeros) until :func:`scsaliency.tl.transfer` fits them.
    """
    blocks, group, unknown = [], [], {}
    for k, (key, names) in enumerate(cats.items()):
        values = labels(adata, key)
        names = [str(n) for n in names]
        index = pd.Index(names).get_indexer(values)
        missing = sorted(set(values[index < 0]))
        if missing:
            unknown[key] = missing
        block = np.zeros((adata.n_obs, len(names)), dtype=np.float32)
        ok = index >= 0
        block[np.flatnonzero(ok), index[ok]] = 1.0
        blocks.append(block)
        group += [k] * len(names)
    if not blocks:
        return np.zeros((adata.n_obs, 0), np.float32), np.zeros(0, np.int64), unknown
    return np.hstack(blocks), np.asarray(group, dtype=np.int64), unknown


def stored_categories(entry: Mapping) -> dict[str, list[str]]:
    """The batches a stored model knows, per key, in column order (empty without batches)."""
    stored = entry.get("batch_categories")
    if not stored:
        return {}
    keys = [str(k) for k in np.atleast_1d(entry["params"]["batch_key"])]
    return {k: [str(c) for c in np.asarray(stored[k])] for k in keys}
