"""``tl.saliency``: which genes drive which representation unit."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from anndata import AnnData

from .. import _input
from .._pass import run_pass
from .._store import model_genes


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
    model_key
        ``key_added`` of the model.
    method
        ``"gradient_x_centered"`` (default): the gradient times the input's deviation from the
        mean cell, ``J * (x - mean(x))`` with ``x = log1p(counts / s)`` the input the network
        saw and the mean over all cells of ``adata`` (stored as ``"input_mean"``, below); a
        gene at the same level in every cell contributes nothing, however highly it is
        expressed. ``"guided_x_input"``: the guided gradient times the input, so only the genes
        a cell expresses contribute; ``"guided"``: guided backpropagation as in the paper
        (negative gradients clipped at every Softplus); ``"gradient"``: the plain gradient.
        The default was chosen by measurement with the additive decoder (3 training seeds).
        ``benchmarks/modules.py`` on PBMC 3k (Hallmark + 7 marker sets): with the centred
        gradient all 7 marker sets are the top set of some unit and 22-26 distinct sets are,
        against 6/7 (the T-cell set is missed: its units' guided x input saliency is led by
        B2M, ribosomal genes and ACTB) and 15-17 with guided x input; the set x unit
        interaction share of the impact table is 0.75-0.78 against 0.55-0.58 (plain gradient:
        7/7 but 0.16). ``benchmarks/saliency_pbmc3k.py`` (each cell type against the rest, own
        marker set ranked first): 7/7 for the centred gradient and guided x input, 6.7/7
        gradient, 4.7/7 guided (with today's model defaults: 7/7, 7/7, 5.7/7 and 3.7/7; the
        guided gradient hardly follows how much a gene varies over cells, Spearman 0.16 per
        gene, so it misses marker genes). Synthetic programs were named the same by both (10/10 and
        11.7/12). The cost is speed: the centred gradient is dense (every gene of every cell)
        and needs one more pass for the mean; on PBMC 3k it took 2.4 s against 0.6 s for
        guided x input, which only evaluates expressed (cell, gene) pairs and is the better
        choice for millions of cells on a CPU.
    groupby
        ``obs`` column; also stores one genes x units map per group (cells with a missing label
        are in no group but count for the whole-data map).
    layer
        Counts layer; ``None`` uses the layer the model was trained on.
    batch_size
        Cells per chunk.
    device
        ``"auto"`` (CUDA when available) or any torch device.
    key_added
        Where results go (below).
    copy
        Return a modified copy instead of writing into ``adata``.
    progress
        Show a progress bar over cells.

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
    codes, names = _input.group_codes(adata, groupby)
    n_groups = len(names)
    if codes is not None:
        # Cells with a missing label form one extra group in the same pass, so the
        # whole-data map (the sum over all groups) still counts them.
        codes = np.where(codes < 0, n_groups, codes)
    sums, entry, used_layer = run_pass(
        adata,
        model_key,
        method,
        layer=layer,
        codes=codes,
        n_groups=n_groups + 1 if codes is not None else 0,
        batch_size=batch_size,
        device=device,
        progress=progress,
    )
    adata = adata.copy() if copy else adata
    whole = sums.group_sums.sum(0) / sums.n_cells
    genes = model_genes(adata, entry)
    ok = genes >= 0  # a transferred model's genes that adata lacks have no map here
    full = np.full((adata.n_vars, whole.shape[1]), np.nan, dtype=np.float32)
    full[genes[ok]] = whole[ok]
    adata.varm[key_added] = full
    params = {"model_key": model_key, "method": method}
    if used_layer is not None:
        params["layer"] = used_layer
    out = {
        "params": params,
        "var_names": np.asarray(entry["var_names"], dtype=object)[ok],
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
