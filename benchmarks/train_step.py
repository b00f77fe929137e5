"""Seconds per PBMC 3k training epoch: the sparse-aware loss and fused Adam against the plain ones.

Both variants train the same additive model (2,374 training cells x 3,181 Hallmark genes, 128
cells per batch) in one process, one epoch each in turn, so that the machine's drift (up to 1.7x
within an hour on the 2-core machine) falls on both alike. Prints the median seconds per epoch of
each and the median per-round ratio.
Run: SCSALIENCY_DATA_DIR=../shared/data python benchmarks/train_step.py [--rounds N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import pbmc_hallmark

from scsaliency.nn.network import OrthoAE, poisson_nll
from scsaliency.nn.step import EagerStep
from scsaliency.nn.tensors import CellMatrix


def make(n_genes: int, median_total: float, fused: bool):
    m = OrthoAE(n_genes, decoder="additive", generator=torch.Generator().manual_seed(0))
    m.median_total.fill_(median_total)
    m.center_input(torch.full((n_genes,), 0.1))
    return m, torch.optim.Adam(m.parameters(), 2e-3, fused=fused), torch.Generator().manual_seed(1)


def epoch(data, cells, m, opt, gen, sparse: bool) -> float:
    """One epoch: the package's step (sparse-aware loss), or the same step with the dense loss."""
    step = EagerStep(m, m, opt, 0.1, 0.0) if sparse else None
    tic = time.perf_counter()
    for _, x in data.batches(cells, 128, shuffle=gen):
        if step is not None:
            step(x)
            continue
        _, rate = m(x)
        loss = poisson_nll(rate, x) + 0.1 * m.ortho_penalty()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - tic


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=12)
    args = p.parse_args()
    adata = pbmc_hallmark()
    data = CellMatrix(adata.X, np.arange(adata.n_vars))
    cells = np.arange(round(0.9 * adata.n_obs))
    median_total = float(np.median(np.asarray(adata.X.sum(1)).ravel()))
    plain = make(adata.n_vars, median_total, fused=False)
    new = make(adata.n_vars, median_total, fused=True)
    t_plain, t_new = [], []
    for _ in range(args.rounds):
        t_plain.append(epoch(data, cells, *plain, sparse=False))
        t_new.append(epoch(data, cells, *new, sparse=True))
    a, b = np.array(t_plain[2:]), np.array(t_new[2:])  # the first rounds warm up
    print(f"# {torch.get_num_threads()} torch threads, torch {torch.__version__}; {len(a)} rounds")
    print(f"dense loss, Adam:               median {np.median(a):.4f} s / epoch")
    print(f"sparse-aware loss, fused Adam:  median {np.median(b):.4f} s / epoch")
    print(f"ratio (per round, median):      {np.median(b / a):.3f}")


if __name__ == "__main__":
    main()
