"""``tl.align``: the representation for neighbours, aligned across batches."""

from __future__ import annotations

import harmonypy
import numpy as np
import pandas as pd
from anndata import AnnData

from .._stored import entry_of
from .._utils import batches as _batches
from .._utils import validate as _validate
from .._utils.docs import doc_params


@doc_params("model_key", "copy")
def align(
    adata: AnnData,
    batch_key: str | list[str] | None = None,
    *,
    model_key: str = "ortho_ae",
    key_added: str | None = None,
    n_clusters: int | None = None,
    theta: float = 2.0,
    ridge: float = 1.0,
    max_iter: int = 10,
    random_state: int = 0,
    copy: bool = False,
    progress: bool = True,
) -> AnnData | None:
    """Align the representation across batches, for neighbours, UMAP and clustering.

    ``batch_key`` in :func:`scsaliency.tl.ortho_ae` takes each batch's capture of every gene out
    of the units, which mixes technologies; but where two studies differ in a way that depends
    on the cell type, the same type from each can still sit apart (:doc:`/benchmarks`). This
    step moves the cells, not the model: on the square root of the units (the representation
    for neighbours), cells are clustered softly with a penalty on clusters that hold one batch
    more than its share, and each cluster's batch offsets, fitted by ridge regression, are
    taken out of its cells in proportion to their membership; clustering and correction
    alternate: Harmony (Korsunsky et al. 2019, Nat Methods 16:1289), run by harmonypy, the
    implementation ``scanpy.external.pp.harmony_integrate`` calls, on the units instead of
    principal components. How far it mixes two PBMC studies, and keeps their cell types, is on
    :doc:`/benchmarks`.

    The units, the gene programs, the saliency maps and the gene-set impacts are the model's
    and do not change: the aligned representation is for the cell graph only. Build the graph
    on it with ``sc.pp.neighbors(adata, use_rep="X_ortho_ae_aligned")``.

    Parameters
    ----------
    adata
        AnnData with a model from :func:`scsaliency.tl.ortho_ae` (or
        :func:`scsaliency.tl.transfer`) and its representation. Not modified apart from the
        keys below.
    batch_key
        Categorical ``obs`` column(s) of the batches to align. Default: the model's own
        ``batch_key``; required when the model has none.
    {model_key}
    key_added
        Where the result goes; default ``model_key + "_aligned"``.
    n_clusters
        Soft clusters; default one per 30 cells, at most 100 (Harmony's). Fewer clusters
        align more coarsely: a cluster's offset is shared by all its cell types.
    theta
        Strength of the penalty on clusters that hold one batch more than its share. 0 is
        plain soft clustering (each batch's offsets within clusters only); larger mixes more
        and, when batches hold different cell types, risks merging types that one batch lacks.
    ridge
        Ridge penalty on each cluster's batch offsets: larger moves cells less.
    max_iter
        Rounds of clustering and correction at most (stops earlier when Harmony's objective
        changes by less than 1e-4 of its value).
    random_state
        Seed of the initial clustering and of the order in which cells are reassigned.
    {copy}
    progress
        Harmony's message after each round (harmonypy's log, at level INFO).

    Returns
    -------
    ``None``, or the copy. Stores:

    ``adata.obsm["X_" + key_added]``
        Cells x units (float32): the square root of the units, aligned.
    ``adata.uns[key_added]``
        ``params`` (``model_key``, ``batch_key``, ``n_clusters``, ``theta``, ``ridge``,
        ``max_iter``, ``random_state``) and ``objective``: Harmony's objective after each round
        (how far it had converged when it stopped).
    """
    _validate.check_tool(adata, copy=copy, key_added=key_added)
    entry = entry_of(adata, model_key)
    basis = "X_" + model_key
    if basis not in adata.obsm:
        raise KeyError(
            f"adata.obsm[{basis!r}] is missing: the model's representation. Run "
            f"scsaliency.tl.ortho_ae(adata, key_added={model_key!r}) or tl.transfer first."
        )
    keys = _batches.keys_of(batch_key) or list(_batches.stored_categories(entry))
    if not keys:
        raise ValueError(
            f"the model in adata.uns[{model_key!r}] was trained without batch_key: name the "
            "obs column(s) of the batches to align, e.g. tl.align(adata, batch_key='donor')."
        )
    cats = _batches.categories(adata, keys)
    if not _batches.more_than_one(cats):
        raise ValueError(
            f"obs column(s) {keys} hold a single batch: there is nothing to align across."
        )
    _validate.check_integers(2, n_clusters=n_clusters)
    _validate.check_integers(1, max_iter=max_iter)
    _validate.check_numbers(theta=theta, ridge=ridge)
    if theta < 0 or ridge <= 0:
        raise ValueError(f"theta must be >= 0 and ridge > 0, got theta={theta}, ridge={ridge}.")
    if n_clusters is not None and n_clusters > adata.n_obs:
        raise ValueError(f"n_clusters={n_clusters} is more than the {adata.n_obs} cells.")
    random_state = _validate.seed(random_state)
    key_added = key_added or model_key + "_aligned"

    adata = adata.copy() if copy else adata
    units = np.asarray(adata.obsm[basis], dtype=np.float64)
    batches = pd.DataFrame({k: _batches.labels(adata, k).to_numpy() for k in keys})
    n_clusters = int(n_clusters or min(100, max(2, round(adata.n_obs / 30))))
    harmony = harmonypy.run_harmony(
        np.sqrt(np.clip(units, 0, None)),
        batches,
        keys,
        theta=theta,
        lamb=ridge,
        nclust=n_clusters,
        max_iter_harmony=max_iter,
        epsilon_harmony=1e-4,  # harmonypy's 1e-2 stopped after 2 rounds on the cell lines
        random_state=random_state,
        verbose=bool(progress),
    )
    aligned = np.asarray(harmony.Z_corr)
    if aligned.shape != units.shape:  # harmonypy before 2.0: dimensions x cells
        aligned = aligned.T
    adata.obsm["X_" + key_added] = aligned.astype(np.float32)
    adata.uns[key_added] = {
        "params": {
            "model_key": model_key,
            "batch_key": np.asarray(keys, dtype=object),
            "n_clusters": n_clusters,
            "theta": float(theta),
            "ridge": float(ridge),
            "max_iter": int(max_iter),
            "random_state": int(random_state),
        },
        "objective": np.asarray(harmony.objective_harmony, dtype=np.float64),
    }
    return adata if copy else None
