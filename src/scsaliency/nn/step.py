"""One training step of :class:`~scsaliency.nn.OrthoAE`, eager or replayed as a CUDA graph.

A minibatch step launches some seventy small kernels (forward, backward, Adam). On a GPU at
the default 128 cells per minibatch, launching them from Python takes longer than running
them, so :class:`GraphStep` records the whole step once as a CUDA graph and replays it: one
launch per step. Minibatches of another size (the last of an epoch) take the eager step; both
update the same weights and optimiser state.
"""

from __future__ import annotations

import torch

from .tensors import Nonzero

#: Replay the training step as a CUDA graph on CUDA devices (Adam, not distributed).
CUDA_GRAPHS = True


def step_loss(model, module, x: torch.Tensor, ortho_weight: float, sparsity: float, nonzero=None):
    """The training loss of one minibatch: Poisson NLL + orthogonality (+ L1 on the units)."""
    z, nll = model(x, nll=True, nonzero=nonzero)
    loss = nll + ortho_weight * module.ortho_penalty()
    if sparsity:
        loss = loss + sparsity * z.mean()
    return loss


class EagerStep:
    """Forward, backward and optimiser step, run op by op; returns the detached loss."""

    def __init__(self, model, module, opt: torch.optim.Optimizer, ortho_weight, sparsity):
        self.model, self.module, self.opt = model, module, opt
        self.ortho_weight, self.sparsity = ortho_weight, sparsity

    def __call__(self, x: torch.Tensor, nonzero: Nonzero | None = None) -> torch.Tensor:
        """One optimiser step on the minibatch ``x``; returns the loss (detached).

        ``nonzero``: where ``x``'s counts are non-zero, if the loader read it (CPU, CSR input).
        """
        loss = step_loss(self.model, self.module, x, self.ortho_weight, self.sparsity, nonzero)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach()


class GraphStep(EagerStep):
    """:class:`EagerStep` recorded as a CUDA graph for minibatches of ``batch_size`` cells.

    Recording needs a few warm-up steps; they run on a batch of zeros, and the weights and the
    optimiser's state are put back afterwards, so training starts from the same point as the
    eager step would. The optimiser must be built with ``capturable=True``.
    """

    def __init__(self, model, module, opt, ortho_weight, sparsity, *, batch_size: int):
        super().__init__(model, module, opt, ortho_weight, sparsity)
        params = [p for group in opt.param_groups for p in group["params"]]
        start = [p.detach().clone() for p in params]
        self.x = torch.zeros(batch_size, module.n_inputs, device=params[0].device)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                super().__call__(self.x)
        torch.cuda.current_stream().wait_stream(side)
        with torch.no_grad():
            for p, p0 in zip(params, start, strict=True):
                p.copy_(p0)
            for state in opt.state.values():
                for value in state.values():
                    if torch.is_tensor(value):
                        value.zero_()
        self.graph = torch.cuda.CUDAGraph()
        opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(self.graph):
            loss = step_loss(model, module, self.x, ortho_weight, sparsity)
            loss.backward()
            opt.step()
        # Keep the value only: the recorded autograd graph would hold the weights' gradient
        # accumulators on the recording stream, and the eager step would wait on it.
        self.loss = loss.detach()

    def __call__(self, x: torch.Tensor, nonzero: Nonzero | None = None) -> torch.Tensor:
        """Replay the captured step on ``x`` (eagerly for a minibatch of another shape).

        ``nonzero`` is not used: on CUDA the loss takes the dense formula.
        """
        if x.shape != self.x.shape:
            return super().__call__(x)
        self.x.copy_(x)
        self.graph.replay()
        return self.loss


def use_graph(device: torch.device, optimizer: str, batch_size: int | None, distributed: bool):
    """Whether training records the step as a graph: :data:`CUDA_GRAPHS`, CUDA, Adam, batches."""
    return (
        CUDA_GRAPHS
        and device.type == "cuda"
        and optimizer == "adam"
        and batch_size is not None
        and not distributed
    )
