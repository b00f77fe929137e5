"""Saliency of the representation units with respect to the input genes (torch, no AnnData).

For an encoder ``h_l = softplus(W_l h_{l-1} + b_l)`` (plus the cell's batch bias on the first
layer when the model has batches: the gradient is then taken at the cell's own batch) the
gradient of every unit ``k`` with respect to the input is built for all units at once,
backwards through the layers:

* start with ``G = diag(sigmoid(z_L) * unit_scale)`` (cells x units x units), the gradient at
  the last pre-activation (``unit_scale``: :meth:`~scsaliency.nn.OrthoAE.scale_units`);
* for each lower layer: ``G <- G @ W_{l+1}`` (gradient at ``h_l``), clip negative entries if
  guided, multiply by ``sigmoid(z_l)`` (Softplus' derivative);
* ``J = G @ W_1`` is cells x units x genes.

Guided backpropagation (Springenberg et al. 2015, used by Kinalis et al. 2019) is the gradient
with negative gradients clipped at every nonlinearity. The result is the same as one backward
pass per unit with a guided Softplus (the tests' reference implementation), but the units share
every matrix product. For ``"guided_x_input"`` only the genes a cell expresses can contribute, so
``J`` is evaluated at those (cell, gene) pairs only (:func:`expressed_saliency`).

``"gradient_x_centered"`` is the plain gradient times the input's deviation from the mean cell,
``J * (x - mean(x))``: a first-order estimate of how far the unit moves when the gene goes from
its average level to this cell's level (gradient x input with the mean cell as the reference,
as in DeepLIFT's rescale rule, Shrikumar et al. 2017). Genes at the same level in every cell
contribute nothing, however highly expressed. The mean comes from one extra pass over the cells
(:func:`input_mean`), and every gene of every cell is evaluated (dense).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812
from tqdm.auto import tqdm

from .network import OrthoAE
from .tensors import CellMatrix

METHODS = ("guided", "gradient", "guided_x_input", "gradient_x_centered")


def hidden_gradients(
    module: OrthoAE, x_in: torch.Tensor, *, guided: bool, offset: torch.Tensor | None = None
) -> torch.Tensor:
    """Gradient of every unit w.r.t. the first layer's pre-activation: cells x units x hidden.

    ``offset``: the batch's bias on the first layer (:meth:`~scsaliency.nn.OrthoAE.inputs`).
    """
    linears = module.encoder_linears
    pre = []
    h = x_in
    for i, lin in enumerate(linears):
        z = lin(h)
        if i == 0 and offset is not None:
            z = z + offset
        pre.append(z)
        h = F.softplus(z)
    g = torch.diag_embed(torch.sigmoid(pre[-1]) * module.unit_scale)
    for lin, z in zip(reversed(linears[1:]), reversed(pre[:-1]), strict=True):
        g = g @ lin.weight
        if guided:
            g = g.clamp_min(0)
        g = g * torch.sigmoid(z).unsqueeze(1)
    return g


def _guided(method: str) -> bool:
    return method in ("guided", "guided_x_input")


@torch.no_grad()
def input_mean(
    module: OrthoAE, data: CellMatrix, *, batch_size: int = 128, device="cpu"
) -> torch.Tensor:
    """Mean network input per gene over all cells of ``data`` (one streaming pass)."""
    total = torch.zeros(data.n_vars, dtype=torch.float64, device=device)
    for _, x in data.batches(None, batch_size, device=device):
        total += module.inputs(x)[0].sum(0, dtype=torch.float64)
    return (total / max(data.n_obs, 1)).float()


@dataclass
class SaliencySums:
    """Streaming sums of one pass over the cells.

    ``group_sums``: groups x genes x units, sum of per-cell saliency; ``group_n``: cells per
    group; ``input_sum``: per-gene sum of the network input over all cells; with a projection,
    ``proj_sum`` and ``proj_sumsq``: groups x units x sets, sums and sums of squares of the
    per-cell gene-set impacts.
    """

    group_sums: np.ndarray
    group_n: np.ndarray
    input_sum: np.ndarray
    n_cells: int
    proj_sum: np.ndarray | None = None
    proj_sumsq: np.ndarray | None = None


@torch.no_grad()
def saliency_pass(
    module: OrthoAE,
    data: CellMatrix,
    method: str,
    *,
    groups: np.ndarray | None = None,
    n_groups: int = 1,
    projection: np.ndarray | None = None,
    keep_gene_maps: bool = True,
    batch_size: int = 128,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> SaliencySums:
    """One streaming pass: per-group sums of |saliency| and, optionally, per-cell set impacts.

    Parameters
    ----------
    module
        The trained network.
    data
        Counts of the model's genes.
    method
        One of :data:`METHODS`.
    groups
        Group code per cell (``-1``: in no group); ``None`` puts every cell in group 0.
    projection
        Genes x sets matrix; per-cell impacts are ``|J| @ projection`` (e.g. membership divided
        by set size gives the mean over each set's genes).
    keep_gene_maps
        Accumulate the genes x units maps (off when only projections are wanted).
    n_groups
        Number of groups (codes run from 0 to ``n_groups - 1``).
    batch_size, device, progress
        Cells per chunk, torch device, progress bar.

    For ``"gradient_x_centered"`` the reference is the mean input over all cells of ``data``,
    from one extra pass (:func:`input_mean`).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    module = module.to(device).eval()
    center = None
    if method == "gradient_x_centered":
        center = input_mean(module, data, batch_size=batch_size, device=device)
    w1 = module.encoder_linears[0].weight  # hidden x genes
    n_genes, n_units = data.n_vars, module.n_latent
    codes = np.zeros(data.n_obs, dtype=np.int64) if groups is None else np.asarray(groups)
    sums = torch.zeros(
        n_groups * n_genes if keep_gene_maps else 1, n_units, dtype=torch.float64, device=device
    )
    input_sum = torch.zeros(n_genes, dtype=torch.float64, device=device)
    proj = (
        None
        if projection is None
        else torch.as_tensor(projection, dtype=torch.float32, device=device)
    )
    n_sets = 0 if proj is None else proj.shape[1]
    p_sum = torch.zeros(n_groups, n_units, n_sets, dtype=torch.float64, device=device)
    p_sq = torch.zeros_like(p_sum)
    guided = _guided(method)
    members = None if projection is None else _gene_set_lists(projection, device)
    buf = None
    bar = tqdm(total=data.n_obs, desc=f"saliency ({method})", unit="cell", disable=not progress)
    for idx, counts in data.batches(None, batch_size, device=device):
        in_group = codes[idx] >= 0  # on the host: asking the device would wait for it
        code = torch.as_tensor(codes[idx], device=device)
        x_in, offset = module.inputs(counts)
        input_sum += x_in.sum(0, dtype=torch.float64)
        if not in_group.any():
            bar.update(len(idx))
            continue
        keep = slice(None) if in_group.all() else torch.as_tensor(in_group, device=device)
        if method == "guided_x_input":
            rows, cols, values = expressed_saliency(module, x_in, guided=True, offset=offset)
            paired = code[rows] >= 0
            rows, cols, values = rows[paired], cols[paired], values[paired]
            if keep_gene_maps:
                sums.index_add_(0, code[rows] * n_genes + cols, values.double())
            if members is not None:
                per_cell = _project_pairs(rows, cols, values, members, len(idx))
        else:
            if buf is None or len(buf) < len(idx) * n_units:
                # One buffer for all chunks: a new chunk-sized tensor per chunk took longer to
                # allocate and fill than the matrix product itself (CPU, 3,000 genes).
                buf = torch.empty(len(idx) * n_units, n_genes, device=device)
            g = hidden_gradients(module, x_in, guided=guided, offset=offset)
            sal = _dense_saliency(g, w1, x_in, method, center, buf)  # cells x units x genes
            if keep_gene_maps:
                _add_dense_maps(sums, sal[keep], code[keep], n_genes)
            if proj is not None:
                per_cell = sal @ proj  # cells x units x sets
        if proj is not None:
            pc = per_cell[keep].double()
            _add_by_group(p_sum, pc, code[keep])
            _add_by_group(p_sq, pc * pc, code[keep])
        bar.update(len(idx))
    bar.close()
    group_n = np.bincount(codes[codes >= 0], minlength=n_groups)
    return SaliencySums(
        group_sums=sums.reshape(n_groups, n_genes, n_units).cpu().numpy()
        if keep_gene_maps
        else np.zeros((n_groups, 0, n_units)),
        group_n=group_n,
        input_sum=input_sum.cpu().numpy(),
        n_cells=data.n_obs,
        proj_sum=p_sum.cpu().numpy() if proj is not None else None,
        proj_sumsq=p_sq.cpu().numpy() if proj is not None else None,
    )


def _dense_saliency(g, w1, x_in, method, center, buf) -> torch.Tensor:
    """``|J * input|`` at every gene (cells x units x genes), computed in place in ``buf``.

    Written into the first cells x units rows of ``buf`` (``saliency_pass`` reuses one buffer
    for all chunks).

    ``|J * d| = |J| * |d|``, so the absolute value and the input's factor are applied in place
    to the product, and no chunk-sized tensor is allocated.
    """
    n, k, _ = g.shape
    j = torch.mm(g.reshape(n * k, -1), w1, out=buf[: n * k]).view(n, k, -1)
    j.abs_()
    if method == "guided_x_input":
        j.mul_(x_in.abs().unsqueeze(1))
    elif method == "gradient_x_centered":
        j.mul_((x_in - center).abs_().unsqueeze(1))
    return j


def expressed_saliency(
    module: OrthoAE, x_in: torch.Tensor, *, guided: bool = True, offset: torch.Tensor | None = None
):
    """|J * x| at the non-zero (cell, gene) pairs of the input only.

    For the two-layer encoder the gradient factorises,
    ``J[b, k, g] = c[k] s2[b, k] * sum_h A[k, h] s1[b, h] W1[h, g]`` with ``s = sigmoid(z)``,
    ``c`` the units' scale and ``A = relu(W2)`` (guided) or ``W2``, so each expressed pair
    costs one row of a single ``pairs x hidden`` by ``hidden x units`` product and nothing is
    padded.

    Returns
    -------
    ``(rows, cols, values)``: cell and gene index of each pair and its units' values (pairs x
    units).
    """
    first, second = module.encoder_linears  # the architecture has exactly two encoder layers
    z1 = first(x_in) if offset is None else first(x_in) + offset
    s1 = torch.sigmoid(z1)
    s2 = torch.sigmoid(second(F.softplus(z1))) * module.unit_scale
    a = second.weight.clamp_min(0) if guided else second.weight  # units x hidden
    rows, cols = x_in.nonzero(as_tuple=True)
    q = s1[rows] * first.weight.T[cols]  # pairs x hidden
    values = (q @ a.T) * s2[rows] * x_in[rows, cols].unsqueeze(1)
    return rows, cols, values.abs()


def _gene_set_lists(projection: np.ndarray, device) -> tuple[torch.Tensor, ...]:
    """Projection (genes x sets) as CSR arrays: per gene, its sets and weights."""
    genes, sets = np.nonzero(projection)
    ptr = np.zeros(projection.shape[0] + 1, dtype=np.int64)
    np.add.at(ptr, genes + 1, 1)
    as_t = lambda a, dt: torch.as_tensor(a, dtype=dt, device=device)  # noqa: E731
    return (
        as_t(np.cumsum(ptr), torch.long),
        as_t(sets, torch.long),
        as_t(projection[genes, sets], torch.float32),
        projection.shape[1],
    )


def _project_pairs(rows, cols, values, members, n_cells) -> torch.Tensor:
    """Per-cell set impacts (cells x units x sets) from (cell, gene) pair values."""
    ptr, set_idx, weight, n_sets = members
    count = ptr[cols + 1] - ptr[cols]
    pair = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), count)
    first = torch.repeat_interleave(torch.cumsum(count, 0) - count, count)
    edge = ptr[cols][pair] + torch.arange(len(pair), device=rows.device) - first
    out = torch.zeros(n_cells * n_sets, values.shape[1], dtype=values.dtype, device=values.device)
    out.index_add_(0, rows[pair] * n_sets + set_idx[edge], values[pair] * weight[edge, None])
    return out.reshape(n_cells, n_sets, -1).transpose(1, 2)


def _add_dense_maps(sums, sal, code, n_genes):
    """Add per-cell saliency (cells x units x genes) into the (group x gene) x unit sums."""
    n_cells, n_units, _ = sal.shape
    n_groups = sums.shape[0] // n_genes
    onehot = F.one_hot(code, n_groups).T.to(sal.dtype)  # groups x cells
    contrib = (onehot @ sal.reshape(n_cells, -1)).reshape(n_groups, n_units, n_genes)
    sums += contrib.transpose(1, 2).reshape(-1, n_units).double()


def _add_by_group(sums, values, code):
    """``sums[g] += values`` summed over the cells of group ``g`` (groups x ...).

    A product with the one-hot groups rather than ``index_add_``, which on CUDA adds with
    atomics in a varying order.
    """
    onehot = F.one_hot(code, sums.shape[0]).T.to(values.dtype)  # groups x cells
    sums += (onehot @ values.reshape(len(code), -1)).reshape(sums.shape)
