"""``tl.saliency``: which genes drive which representation unit."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from anndata import AnnData

from .._stored import StoredModel
from .._utils import validate as _validate
from .._utils.docs import doc_params
from ._saliency_pass import check_method, run_pass


@doc_params("model_key", "batch_size", "device", "copy", "progress")
def saliency(
    adata: AnnData,
    *,
    model_key: str = "ortho_ae",
    method: Literal[
        "gradient_x_centered", "guided_x_input", "guided", "gradient"
    ] = "gradient_x_centered",
    groupby: str | None = None,
    layer: str | None = None,
    batch_size: int = 128,
    device: str | torch.device = "auto",
    key_added: str = "saliency",
    copy: bool = False,
    progress: bool = True,
) -> AnnData | None:
    """Saliency maps: how strongly each gene drives each representation unit.

    For every cell, the gradient of each unit of the representation with respect to the
    network's input genes is computed for all units at once, made absolute, and averaged over
    cells (Kinalis et al. 2019). Cells are processed in chunks of ``batch_size``, so memory
    stays bounded; sparse input stays sparse until a chunk is read.

    Parameters
    ----------
    adata
        AnnData with a model trained by :func:`scsaliency.tl.ortho_ae` in ``uns[model_key]``.
    {model_key}
    method
        ``"gradient_x_centered"``: the gradient times the input's deviation from the mean cell,
        ``J * (x - mean(x))``, ``x = log1p(counts / s)``; a gene at the same level in every
        cell contributes nothing, however highly expressed. It names the most marker sets
        (:doc:`/method`) but is dense: every gene of every cell, plus one pass for the mean.
        ``"guided_x_input"``: the guided gradient times the input, evaluated only where a cell
        has counts; about 4x faster, the choice for millions of cells on a CPU.
        ``"guided"``: guided backpropagation, as in the paper. ``"gradient"``: the plain
        gradient.
    groupby
        ``obs`` column; also stores one genes x units map per group (cells with a missing label
        are in no group but count for the whole-data map).
    layer
        Counts layer; ``None`` uses the layer the model was trained on.
    {batch_size}
    {device}
    key_added
        Where results go (below).
    {copy}
    {progress}

    Returns
    -------
    ``None``, or the copy. Stores:

    ``adata.varm[key_added]``
        Genes x units (float32), mean over all cells of the absolute saliency. Genes the model
        did not use are **NaN**.
    ``adata.uns[key_added]``
        ``"params"`` (``model_key``, ``method``, ``layer`` if any, ``groupby`` if any),
        ``"var_names"`` (model genes found in ``adata``, in the order of the maps below),
        ``"input_mean"`` (mean network input per model gene, used to match random gene sets on
        expression), and with ``groupby``: ``"groups"`` (names), ``"group_n"`` (cells per group) and
        ``"group_maps"`` (groups x model genes x units).
    """
    _validate.check_tool(
        adata, copy=copy, key_added=key_added, batch_size=batch_size, device=device
    )
    model = StoredModel.load(adata, model_key)
    check_method(method)
    codes, names = _validate.group_codes(adata, groupby)
    n_groups = len(names)
    if codes is not None:
        # Cells with a missing label form one extra group in the same pass, so the
        # whole-data map (the sum over all groups) still counts them.
        codes = np.where(codes < 0, n_groups, codes)
    used_layer = model.layer if layer is None else layer
    sums = run_pass(
        model,
        method,
        layer=used_layer,
        codes=codes,
        n_groups=n_groups + 1 if codes is not None else 0,
        batch_size=int(batch_size),
        device=device,
        progress=progress,
    )
    adata = adata.copy() if copy else adata
    whole = sums.group_sums.sum(0) / sums.n_cells
    genes = model.genes
    ok = genes >= 0  # a transferred model's genes that adata lacks have no map here
    full = np.full((adata.n_vars, whole.shape[1]), np.nan, dtype=np.float32)
    full[genes[ok]] = whole[ok]
    adata.varm[key_added] = full
    params = {"model_key": model_key, "method": method}
    if used_layer is not None:
        params["layer"] = used_layer
    out = {
        "params": params,
        "var_names": np.asarray(model.var_names, dtype=object)[ok],
        "input_mean": (sums.input_sum / sums.n_cells).astype(np.float32)[ok],
    }
    if codes is not None:
        params["groupby"] = groupby
        group_n = sums.group_n[:n_groups]
        n = np.maximum(group_n, 1)[:, None, None]
        out["groups"] = np.asarray(names, dtype=object)
        out["group_n"] = group_n.astype(np.int64)
        out["group_maps"] = (sums.group_sums[:n_groups, ok] / n).astype(np.float32)
    adata.uns[key_added] = out
    return adata if copy else None
