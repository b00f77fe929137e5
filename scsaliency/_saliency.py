"""Saliency of the representation units with respect to the input genes (torch, no AnnData).

For an encoder ``h_l = softplus(W_l h_{l-1} + b_l)`` the gradient of every unit ``k`` with
respect to the input is built for all units at once, backwards through the layers:

* start with ``G = diag(sigmoid(z_L))`` (cells x units x units), the gradient at the last
  pre-activation;
* for each lower layer: ``G <- G @ W_{l+1}`` (gradient at ``h_l``), clip negative entries if
  guided, multiply by ``sigmoid(z_l)`` (Softplus' derivative);
* ``J = G @ W_1`` is cells x units x genes.

Guided backpropagation (Springenberg et al. 2015, used by Kinalis et al. 2019) is the gradient
with negative gradients clipped at every nonlinearity. The result is the same as one backward
pass per unit with a guided Softplus (:func:`reference_saliency`), but the units share every
matrix product. For ``"guided_x_input"`` only the genes a cell expresses can contribute, so
``J`` is evaluated at those (cell, gene) pairs only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812
from tqdm.auto import tqdm

from ._data import CellMatrix
from .module import OrthoAE

METHODS = ("guided", "gradient", "guided_x_input")


def hidden_gradients(module: OrthoAE, x_in: torch.Tensor, *, guided: bool) -> torch.Tensor:
    """Gradient of every unit w.r.t. the first layer's pre-activation: cells x units x hidden."""
    linears = module.encoder_linears
    pre = []
    h = x_in
    for lin in linears:
        z = lin(h)
        pre.append(z)
        h = F.softplus(z)
    g = torch.diag_embed(torch.sigmoid(pre[-1]))
    for lin, z in zip(reversed(linears[1:]), reversed(pre[:-1]), strict=True):
        g = g @ lin.weight
        if guided:
            g = g.clamp_min(0)
        g = g * torch.sigmoid(z).unsqueeze(1)
    return g


@torch.no_grad()
def cell_saliency(module: OrthoAE, counts: torch.Tensor, method: str) -> torch.Tensor:
    """Per-cell saliency, cells x units x genes (dense; for tests and small inputs)."""
    x_in = module.network_input(counts, module.size_factors(counts))
    g = hidden_gradients(module, x_in, guided=method != "gradient")
    j = g @ module.encoder_linears[0].weight
    if method == "guided_x_input":
        j = j * x_in.unsqueeze(1)
    return j.abs()


class _GuidedSoftplus(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return F.softplus(z)

    @staticmethod
    def backward(ctx, grad_out):
        (z,) = ctx.saved_tensors
        return grad_out.clamp_min(0) * torch.sigmoid(z)


def reference_saliency(module: OrthoAE, counts: torch.Tensor, method: str) -> torch.Tensor:
    """The slow reference: one autograd backward pass per unit (the original's approach).

    Returns the same cells x units x genes tensor as :func:`cell_saliency`; used by the tests
    and as the baseline of ``benchmarks/saliency_speed.py``.
    """
    x_in = module.network_input(counts, module.size_factors(counts)).detach()
    act = _GuidedSoftplus.apply if method != "gradient" else F.softplus
    out = []
    for k in range(module.n_latent):
        x = x_in.clone().requires_grad_(True)
        h = x
        for lin in module.encoder_linears:
            h = act(lin(h))
        (grad,) = torch.autograd.grad(h[:, k].sum(), x)
        out.append(grad * x_in if method == "guided_x_input" else grad)
    return torch.stack(out, dim=1).abs()


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
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    module = module.to(device).eval()
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
    guided = method != "gradient"
    bar = tqdm(total=data.n_obs, desc=f"saliency ({method})", unit="cell", disable=not progress)
    for idx, counts in data.batches(None, batch_size, device=device):
        code = torch.as_tensor(codes[idx], device=device)
        x_in = module.network_input(counts, module.size_factors(counts))
        input_sum += x_in.sum(0, dtype=torch.float64)
        g = hidden_gradients(module, x_in, guided=guided)  # cells x units x hidden
        if method == "guided_x_input":
            sal, cols = _sparse_x_input(g, w1, x_in)  # cells x units x nnz, cells x nnz
        else:
            sal = (g @ w1).abs()  # cells x units x genes
            cols = None
        keep = code >= 0
        if keep_gene_maps and keep.any():
            _add_gene_maps(
                sums, sal[keep], cols[keep] if cols is not None else None, code[keep], n_genes
            )
        if proj is not None and keep.any():
            pc = sal @ proj if cols is None else torch.bmm(sal, proj[cols])  # cells x units x sets
            pc = pc[keep].double()
            p_sum.index_add_(0, code[keep], pc)
            p_sq.index_add_(0, code[keep], pc * pc)
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


def _sparse_x_input(g, w1, x_in):
    """|J * x| at each cell's expressed genes only, padded to the cell with most genes.

    Returns ``(cells x units x P, cells x P gene indices)``; padding has value 0 at gene 0,
    so it adds nothing to any sum.
    """
    rows, cols = x_in.nonzero(as_tuple=True)
    n_cells = x_in.shape[0]
    per_cell = torch.bincount(rows, minlength=n_cells)
    width = int(per_cell.max()) if len(rows) else 1
    start = torch.cumsum(per_cell, 0) - per_cell
    pos = torch.arange(len(rows), device=x_in.device) - start[rows]
    col_pad = torch.zeros(n_cells, width, dtype=torch.long, device=x_in.device)
    val_pad = torch.zeros(n_cells, width, dtype=x_in.dtype, device=x_in.device)
    col_pad[rows, pos] = cols
    val_pad[rows, pos] = x_in[rows, cols]
    w_sel = w1.T[col_pad]  # cells x P x hidden
    j = torch.bmm(g, w_sel.transpose(1, 2))  # cells x units x P
    return (j * val_pad.unsqueeze(1)).abs(), col_pad


def _add_gene_maps(sums, sal, cols, code, n_genes):
    """Add per-cell saliency into the (group x gene) x unit sums.

    Dense input (``cols is None``, cells x units x genes) goes through one matrix product with
    the groups' one-hot matrix; sparse input (cells x units x P) through ``index_add``.
    """
    n_cells, n_units, width = sal.shape
    if cols is None:
        n_groups = sums.shape[0] // n_genes
        onehot = F.one_hot(code, n_groups).T.to(sal.dtype)  # groups x cells
        contrib = (onehot @ sal.reshape(n_cells, -1)).reshape(n_groups, n_units, n_genes)
        sums += contrib.transpose(1, 2).reshape(-1, n_units).double()
        return
    flat = (code.unsqueeze(1) * n_genes + cols).reshape(-1)
    sums.index_add_(0, flat, sal.transpose(1, 2).reshape(-1, n_units).double())
