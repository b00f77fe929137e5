"""One streaming saliency pass of a model stored in an AnnData, shared by the ``tl`` tools.

:func:`scsaliency.tl.saliency` and :func:`scsaliency.tl.geneset_impact` both read the stored
model, check the counts and stream the cells through :func:`scsaliency._saliency.saliency_pass`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from anndata import AnnData

from ._data import model_counts, resolve_device
from ._saliency import METHODS, SaliencySums, saliency_pass
from ._store import model_entry, model_genes, module_from_uns


def run_pass(
    adata: AnnData,
    model_key: str,
    method: str,
    *,
    layer: str | None,
    codes: np.ndarray | None,
    n_groups: int,
    projection: np.ndarray | None = None,
    keep_gene_maps: bool = True,
    batch_size: int = 128,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> tuple[SaliencySums, Mapping, str | None]:
    """Check inputs, then stream the saliency of the model in ``uns[model_key]`` over all cells."""
    entry = model_entry(adata, model_key)
    genes = model_genes(adata, entry)
    if layer is None:
        layer = entry["params"].get("layer")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    data = model_counts(adata, genes, layer)
    dev = resolve_device(device)
    module = module_from_uns(entry)
    sums = saliency_pass(
        module,
        data,
        method,
        groups=codes,
        n_groups=max(n_groups, 1),
        projection=projection,
        keep_gene_maps=keep_gene_maps,
        batch_size=batch_size,
        device=dev,
        progress=progress,
    )
    return sums, entry, layer
