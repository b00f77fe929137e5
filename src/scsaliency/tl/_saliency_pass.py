"""One streaming saliency pass of a stored model over an AnnData, shared by the ``tl`` tools.

:func:`scsaliency.tl.saliency` and :func:`scsaliency.tl.geneset_impact` both stream the cells
through :func:`scsaliency.nn.gradients.saliency_pass` with the model of a :class:`StoredModel`.
"""

from __future__ import annotations

import numpy as np
import torch

from .._stored import StoredModel
from ..nn.gradients import METHODS, SaliencySums, saliency_pass
from ..nn.tensors import resolve_device


def check_method(method: str) -> None:
    """Fail clearly for an unknown saliency method."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")


def run_pass(
    model: StoredModel,
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
) -> SaliencySums:
    """Stream the saliency of ``model`` over all cells of its AnnData.

    ``layer=None`` reads the layer the model was trained on.
    """
    check_method(method)
    data = model.counts(model.layer if layer is None else layer)
    return saliency_pass(
        model.module,
        data,
        method,
        groups=codes,
        n_groups=max(n_groups, 1),
        projection=projection,
        keep_gene_maps=keep_gene_maps,
        batch_size=batch_size,
        device=resolve_device(device),
        progress=progress,
    )
