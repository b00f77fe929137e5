"""Training loop for :class:`~scsaliency.nn.OrthoAE`: minibatches, validation, early stop."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from .network import OrthoAE, poisson_nll
from .step import EagerStep, GraphStep, use_graph
from .tensors import CellMatrix


@dataclass
class TrainConfig:
    """Settings of one training run; see :func:`scsaliency.tl.ortho_ae` for their meaning."""

    ortho_weight: float = 0.1
    sparsity: float = 0.0
    optimizer: str = "adam"
    lr: float | None = None
    decoder_lr_scale: float = 1.0
    momentum: float = 0.9
    batch_size: int | None = 128
    max_epochs: int = 300
    patience: int = 10
    tol: float = 0.0
    progress: bool = True
    distributed: bool = False


@dataclass
class TrainResult:
    """History per epoch and where training stopped."""

    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    stopped_early: bool = False


def unit_correlation_norm(z: torch.Tensor) -> float:
    """L2 norm of the singular values of the units' correlation matrix over cells.

    This is ``||C||_F``; it equals ``sqrt(n_latent)`` for uncorrelated units and grows with the
    correlation between them (the paper's orthogonality figure, made scale-free).
    """
    zc = z - z.mean(dim=0, keepdim=True)
    sd = zc.pow(2).mean(dim=0).sqrt().clamp_min(1e-8)
    c = (zc / sd).T @ (zc / sd) / z.shape[0]
    return float(torch.linalg.svdvals(c).norm())


def default_lr(optimizer: str, decoder: str) -> float:
    """Learning rate when none is given (see :func:`scsaliency.tl.ortho_ae`'s ``lr``)."""
    if optimizer == "sgd":
        return 1e-2
    return 2e-3 if decoder == "additive" else 1e-3


def _make_optimizer(
    module: OrthoAE, cfg: TrainConfig, *, capturable: bool = False
) -> torch.optim.Optimizer:
    """The optimiser, with the decoder's parameters at ``decoder_lr_scale`` times the rate.

    ``capturable``: Adam keeps its step count on the device, so that a CUDA graph can record
    its step (:class:`~scsaliency.nn.step.GraphStep`).
    """
    lr = cfg.lr or default_lr(cfg.optimizer, module.decoder_kind)
    # frozen parameters (a consensus model's programs) stay out of the optimiser
    decoder = [p for p in module.decoder.parameters() if p.requires_grad]
    groups = [
        {"params": list(module.encoder.parameters()), "lr": lr},
        {"params": decoder, "lr": lr * cfg.decoder_lr_scale},
    ]
    if module.n_batch:  # the batches' encoder bias and rate factor, at the encoder's rate
        groups.append({"params": [module.batch_hidden, module.batch_log], "lr": lr})
    if cfg.optimizer == "adam":
        # One kernel per step instead of a dozen per parameter, on the devices that have it
        # (with the sparse-aware loss about 5 % less time per epoch: benchmarks/train_step.py).
        fused = next(module.parameters()).device.type in ("cpu", "cuda")
        return torch.optim.Adam(groups, lr=lr, fused=fused, capturable=capturable)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, nesterov=True)
    raise ValueError(
        f"optimizer must be 'adam' or 'sgd' (Nesterov momentum), got {cfg.optimizer!r}."
    )


def _world() -> tuple[int, int]:
    import torch.distributed as dist

    return dist.get_world_size(), dist.get_rank()


def _all_reduce_sum(values: list[float], device) -> list[float]:
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def train(
    module: OrthoAE,
    data: CellMatrix,
    train_cells: np.ndarray,
    val_cells: np.ndarray,
    cfg: TrainConfig,
    *,
    device: torch.device,
    generator: torch.Generator,
) -> TrainResult:
    """Train in place; on return ``module`` holds the weights of the best validation epoch.

    With ``cfg.distributed`` (an initialised ``torch.distributed`` process group, e.g. under
    ``torchrun``), each process trains on an equal share of the training cells through
    :class:`~torch.nn.parallel.DistributedDataParallel` (gradients averaged, weights identical
    on every process), and validation losses are summed over processes, so every process
    stops at the same epoch.
    """
    model = module
    if cfg.distributed:
        from torch.nn.parallel import DistributedDataParallel

        world, rank = _world()
        n = len(train_cells) // world
        train_cells = train_cells[rank::world][:n]
        val_cells = val_cells[rank::world]
        generator = torch.Generator().manual_seed(int(generator.initial_seed()) + rank)
        model = DistributedDataParallel(module)  # broadcasts rank 0's initial weights
    graph = use_graph(device, cfg.optimizer, cfg.batch_size, cfg.distributed)
    opt = _make_optimizer(module, cfg, capturable=graph)
    args = (model, module, opt, cfg.ortho_weight, cfg.sparsity)
    step = GraphStep(*args, batch_size=cfg.batch_size) if graph else EagerStep(*args)
    keys = ("train_loss", "val_loss", "ortho_penalty", "unit_corr_norm", "seconds")
    result = TrainResult(history={k: [] for k in keys})
    best_loss, best_state, waited = np.inf, copy.deepcopy(module.state_dict()), 0
    best_excess = np.inf
    show = cfg.progress and (not cfg.distributed or _world()[1] == 0)
    bar = tqdm(range(cfg.max_epochs), desc="ortho_ae", unit="epoch", disable=not show)
    sat_local = _saturated_nll(data, val_cells, device)  # the same every epoch
    for epoch in bar:
        tic = time.perf_counter()
        model.train()
        # summed on the device: reading the loss every minibatch would wait for the GPU
        total, n_seen = torch.zeros((), dtype=torch.float64, device=device), 0
        for _, x, nz in data.count_batches(
            train_cells, cfg.batch_size, device=device, shuffle=generator
        ):
            total += step(x, nz).double() * len(x)
            n_seen += len(x)
        total = float(total)
        nll, n_val, corr = _validation_loss(module, data, val_cells, device)
        sat = sat_local
        if cfg.distributed:
            total, n_seen, nll, sat, n_val, corr = _all_reduce_sum(
                [total, n_seen, nll, sat, n_val, corr], device
            )
            corr /= _world()[0]
        penalty = float(module.ortho_penalty().detach())
        val_loss = nll / max(n_val, 1) + cfg.ortho_weight * penalty
        # The loss's excess over the saturated model (rate = counts): >= 0, so that ``tol``
        # is a share of what is left to gain whatever the data's depth.
        excess = val_loss - sat / max(n_val, 1)
        h = result.history
        h["train_loss"].append(total / max(n_seen, 1))
        h["val_loss"].append(val_loss)
        h["ortho_penalty"].append(penalty)
        h["unit_corr_norm"].append(corr)
        h["seconds"].append(time.perf_counter() - tic)
        bar.set_postfix(
            train=f"{h['train_loss'][-1]:.4f}", val=f"{val_loss:.4f}", ortho=f"{penalty:.3f}"
        )
        if val_loss < best_loss - 1e-6:
            best_loss, result.best_epoch = val_loss, epoch
            best_state = copy.deepcopy(module.state_dict())
        if excess < best_excess * (1 - cfg.tol) - 1e-6:
            best_excess, waited = excess, 0
        else:
            waited += 1
            if waited >= cfg.patience:
                result.stopped_early = True
                break
    bar.close()
    module.load_state_dict(best_state)
    module.eval()
    return result


@torch.no_grad()
def _validation_loss(module, data, val_cells, device) -> tuple[float, int, float]:
    """Validation NLL (mean over genes, summed over cells), cells, the units' correlation norm."""
    module.eval()
    nll, n, zs = torch.zeros((), dtype=torch.float64, device=device), 0, []
    for _, x, nz in data.count_batches(val_cells, 1024, device=device):
        z, batch_nll = module(x, nll=True, nonzero=nz)
        nll += batch_nll.double() * len(x)
        n += len(x)
        zs.append(z)
    corr = unit_correlation_norm(torch.cat(zs)) if zs else float("nan")
    return float(nll), n, corr


@torch.no_grad()
def _saturated_nll(data, val_cells, device) -> float:
    """The saturated model's (rate = counts) validation NLL, as :func:`_validation_loss` sums it."""
    genes = slice(0, data.n_vars)  # not the batch covariates after them
    return sum(
        float(poisson_nll(x[:, genes], x[:, genes])) * len(x)
        for _, x in data.batches(val_cells, 1024, device=device)
    )


def fit_batches(
    module: OrthoAE,
    data: CellMatrix,
    cells: np.ndarray,
    rows: np.ndarray,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    device: torch.device,
    generator: torch.Generator,
    progress: bool = False,
) -> list[float]:
    """Fit the batch parameters of the batch columns ``rows`` on ``cells``; nothing else moves.

    Every other weight keeps its value bit for bit (as scArches fits only a query's batch
    parameters of a scVI model): the encoder's and decoder's weights are frozen, and the
    gradient of the other batches' rows is zeroed, so Adam never moves them. Returns the
    training loss per epoch.
    """
    module.to(device).train()
    params = [module.batch_hidden, module.batch_log]
    for p in module.parameters():
        p.requires_grad_(False)
    keep = torch.ones(module.n_batch, 1, dtype=torch.bool, device=device)
    keep[torch.as_tensor(rows, device=device)] = False
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=lr)
    losses = []
    for _ in tqdm(range(epochs), desc="fit batches", unit="epoch", disable=not progress):
        total, n = 0.0, 0
        for _, x in data.batches(cells, batch_size, device=device, shuffle=generator):
            _, loss = module(x, nll=True)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for p in params:
                p.grad.masked_fill_(keep, 0.0)
            opt.step()
            total, n = total + float(loss) * len(x), n + len(x)
        losses.append(total / max(n, 1))
    for p in module.parameters():
        p.requires_grad_(True)
    module.eval()
    return losses
