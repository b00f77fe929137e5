"""Milliseconds per PBMC 3k training step against the arithmetic of its two large products.

The step trains the additive model (2,374 training cells x 3,181 Hallmark genes, 128 cells per
minibatch, 64 units) as ``tl.ortho_ae`` does: minibatches gathered from the CSR structure with
their non-zero entries (:meth:`~scsaliency.nn.tensors.CellMatrix.count_batches`), the
sparse-aware Poisson loss, fused Adam. It is timed per epoch, loading included, against:

* the step as it was before the CSR gather (scipy row indexing and ``toarray``, the non-zero
  counts found in the dense minibatch);
* the two large products alone, forward and backward, on the same shapes: the first layer
  ``x @ W1.T`` (its weight's gradient) and the decoder's ``z @ P`` (the gradients of ``z`` and
  ``P``). That is the step's arithmetic; everything else is overhead.

Each in turn, an epoch at a time in one process, so that the machine's drift (up to 1.7x within
an hour on the 2-core machine) falls on all alike; medians over rounds after two warm-ups.
Run: SCSALIENCY_DATA_DIR=../shared/data python benchmarks/train_step.py [--rounds N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import pbmc_hallmark

from scsaliency.nn.network import OrthoAE
from scsaliency.nn.step import EagerStep
from scsaliency.nn.tensors import CellMatrix
from scsaliency.nn.training import TrainConfig, _make_optimizer

BATCH = 128


def make(n_genes: int, median_total: float):
    m = OrthoAE(n_genes, decoder="additive", generator=torch.Generator().manual_seed(0))
    m.median_total.fill_(median_total)
    m.center_input(torch.full((n_genes,), 0.1))
    step = EagerStep(m, m, _make_optimizer(m, TrainConfig()), 0.1, 0.0)
    return step, torch.Generator().manual_seed(1)


def package_epoch(data, cells, step, gen) -> int:
    n = 0
    for _, x, nz in data.count_batches(cells, BATCH, shuffle=gen):
        step(x, nz)
        n += 1
    return n


def before_epoch(data, cells, step, gen) -> int:
    """The loader and loss before the CSR gather: scipy rows, non-zeros found in the loss."""
    order = cells[torch.randperm(len(cells), generator=gen).numpy()]
    n = 0
    for start in range(0, len(order), BATCH):
        idx = order[start : start + BATCH]
        sort = np.argsort(idx, kind="stable")
        block = data._x[idx[sort]].toarray()
        inverse = np.empty_like(sort)
        inverse[sort] = np.arange(len(sort))
        step(torch.from_numpy(np.ascontiguousarray(block[inverse])))
        n += 1
    return n


def products_epoch(n_steps: int, n_genes: int, x: torch.Tensor) -> int:
    """The two large products forward and backward, ``n_steps`` times."""
    g = torch.Generator().manual_seed(2)
    w1 = torch.randn(128, n_genes, generator=g).requires_grad_()
    p = torch.randn(64, n_genes, generator=g).requires_grad_()
    z = torch.randn(BATCH, 64, generator=g).requires_grad_()
    for _ in range(n_steps):
        h = x @ w1.T
        r = z @ p
        (h.sum() + r.sum()).backward()
    return n_steps


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=12)
    args = p.parse_args()
    adata = pbmc_hallmark()
    data = CellMatrix(adata.X, np.arange(adata.n_vars))
    cells = np.arange(round(0.9 * adata.n_obs))
    median_total = float(np.median(np.asarray(adata.X.sum(1)).ravel()))
    x = torch.from_numpy(data.rows(np.arange(BATCH)))
    n_steps = -(-len(cells) // BATCH)
    runs = {
        "package step (CSR gather, sparse-aware loss, fused Adam)": (
            package_epoch,
            make(adata.n_vars, median_total),
        ),
        "step before the CSR gather (scipy rows, non-zeros found)": (
            before_epoch,
            make(adata.n_vars, median_total),
        ),
        "two large products, forward and backward": (None, None),
    }
    times = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, (epoch, state) in runs.items():
            tic = time.perf_counter()
            if epoch is None:
                n = products_epoch(n_steps, adata.n_vars, x)
            else:
                n = epoch(data, cells, *state)
            times[name].append((time.perf_counter() - tic) / n * 1e3)
    print(
        f"# {torch.get_num_threads()} torch threads, torch {torch.__version__}; "
        f"{args.rounds - 2} rounds, {n_steps} steps each; ms per step (median)"
    )
    floor = np.array(times["two large products, forward and backward"][2:])
    for name, t in times.items():
        t = np.array(t[2:])
        print(f"{name:<58} {np.median(t):6.2f} ms   x{np.median(t / floor):.2f} of the products")


if __name__ == "__main__":
    main()
