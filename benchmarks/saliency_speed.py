"""Saliency speed on PBMC 3k: batched all-units pass against a per-unit loop (issue 3).

Both compute the mean |saliency| over all 2,638 cells for all 64 units; the loop is one
autograd backward pass per unit and chunk of cells (how the original code worked, minus its
batch size of 1). The batched centred method includes its pass for the mean cell.
Run: SCSALIENCY_DATA_DIR=../shared/data python benchmarks/saliency_speed.py
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch
from _common import pbmc_hallmark

import scsaliency as ss
from scsaliency.nn.gradients import METHODS, input_mean, saliency_pass
from scsaliency.nn.tensors import CellMatrix

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.reference import reference_saliency  # noqa: E402  (the slow reference lives there)


def loop_mean(module, data, method, chunk=128):
    total = torch.zeros(module.n_latent, data.n_vars, dtype=torch.float64)
    center = input_mean(module, data) if method == "gradient_x_centered" else None
    for _, x in data.batches(None, chunk):
        total += reference_saliency(module, x, method, center).sum(0).double()
    return (total / data.n_obs).T.numpy()


def main():
    adata = pbmc_hallmark()
    ss.tl.ortho_ae(adata, progress=False)
    module = ss.get.model(adata)
    genes = adata.var_names.get_indexer(adata.uns["ortho_ae"]["var_names"])
    data = CellMatrix(adata.X, genes)
    density = adata.X.nnz / np.prod(adata.shape)
    print(
        f"# {adata.n_obs} cells x {len(genes)} genes ({density:.1%} non-zero), "
        f"{module.n_latent} units, {torch.get_num_threads()} CPU threads"
    )
    for method in METHODS:
        t = time.perf_counter()
        r = saliency_pass(module, data, method, progress=False)
        fast = time.perf_counter() - t
        t = time.perf_counter()
        ref = loop_mean(module, data, method)
        slow = time.perf_counter() - t
        err = np.abs(r.group_sums[0] / data.n_obs - ref).max() / ref.max()
        print(
            f"{method:>15}: batched {fast:6.2f} s, per-unit loop {slow:6.2f} s, "
            f"speed-up {slow / fast:5.1f}x, max rel. difference {err:.1e}",
            flush=True,
        )


if __name__ == "__main__":
    main()
