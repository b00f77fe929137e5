"""Reference implementations the tests (and ``benchmarks/saliency_speed.py``) compare against.

``reference_saliency`` is the slow, obvious computation: one autograd backward pass per unit,
as the paper's script did. ``cell_saliency`` runs the package's batched kernel densely per cell.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F  # noqa: N812

from scsaliency.nn.gradients import _dense_saliency, _guided, hidden_gradients
from scsaliency.nn.network import OrthoAE


@torch.no_grad()
def cell_saliency(
    module: OrthoAE, counts: torch.Tensor, method: str, center: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-cell saliency, cells x units x genes (dense; for tests and small inputs).

    ``center`` is the reference input of ``"gradient_x_centered"`` (default: the mean of these
    cells).
    """
    x_in = module.network_input(counts, module.size_factors(counts))
    if method == "gradient_x_centered" and center is None:
        center = x_in.mean(0)
    g = hidden_gradients(module, x_in, guided=_guided(method))
    w1 = module.encoder_linears[0].weight
    buf = torch.empty(g.shape[0] * g.shape[1], w1.shape[1], device=x_in.device)
    return _dense_saliency(g, w1, x_in, method, center, buf)


class _GuidedSoftplus(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return F.softplus(z)

    @staticmethod
    def backward(ctx, grad_out):
        (z,) = ctx.saved_tensors
        return grad_out.clamp_min(0) * torch.sigmoid(z)


def reference_saliency(
    module: OrthoAE, counts: torch.Tensor, method: str, center: torch.Tensor | None = None
) -> torch.Tensor:
    """The slow reference: one autograd backward pass per unit (the original's approach).

    Returns the same cells x units x genes tensor as ``cell_saliency``; used by the tests
    and as the baseline of ``benchmarks/saliency_speed.py``.
    """
    x_in = module.network_input(counts, module.size_factors(counts)).detach()
    if method == "gradient_x_centered" and center is None:
        center = x_in.mean(0)
    act = _GuidedSoftplus.apply if _guided(method) else F.softplus
    out = []
    for k in range(module.n_latent):
        x = x_in.clone().requires_grad_(True)
        h = x
        for lin in module.encoder_linears:
            h = act(lin(h))
        h = h * module.unit_scale
        (grad,) = torch.autograd.grad(h[:, k].sum(), x)
        if method == "guided_x_input":
            grad = grad * x_in
        elif method == "gradient_x_centered":
            grad = grad * (x_in - center)
        out.append(grad)
    return torch.stack(out, dim=1).abs()
