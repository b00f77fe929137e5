"""Scale: seconds per epoch, saliency and impact seconds, peak memory, by number of cells (issue 6).

Synthetic sparse counts: 3,000 genes, about 5 % non-zero, 9 cell groups, 50 random gene sets.
Each size runs in a fresh process so that its peak resident memory (ru_maxrss) is its own;
for in-memory rows it includes generating the data, for backed rows the file is written by
another process first. Also times PBMC 3k end to end.
Run: SCSALIENCY_DATA_DIR=../shared/data python benchmarks/scale.py [--sizes 10000 100000 1000000]
"""

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from anndata import AnnData

import scsaliency as ss

N_GENES, DENSITY, CHUNK = 3000, 0.05, 50_000


def sparse_counts(n_cells: int, seed: int = 0) -> AnnData:
    """CSR counts built chunk by chunk (never dense): gene popularity varies, values >= 1."""
    rng = np.random.default_rng(seed)
    popularity = rng.lognormal(0, 1, N_GENES)
    popularity /= popularity.sum()
    mean = rng.lognormal(0, 0.7, N_GENES)
    parts = []
    for start in range(0, n_cells, CHUNK):
        n = min(CHUNK, n_cells - start)
        nnz = rng.binomial(N_GENES, DENSITY, n)
        rows = np.repeat(np.arange(n, dtype=np.int32), nnz)
        cols = rng.choice(N_GENES, size=nnz.sum(), p=popularity).astype(np.int32)
        vals = (1 + rng.poisson(mean[cols])).astype(np.float32)
        parts.append(sp.csr_matrix((vals, (rows, cols)), shape=(n, N_GENES)))
        del rows, cols, vals
    x = sp.vstack(parts, format="csr")
    del parts
    obs = pd.DataFrame(
        {"group": pd.Categorical(rng.integers(0, 9, n_cells).astype(str))},
        index=pd.RangeIndex(n_cells).astype(str),
    )
    return AnnData(x, obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(N_GENES)]))


def one(n_cells: int, backed_path: str | None) -> dict:
    if backed_path:
        import anndata as ad

        adata = ad.read_h5ad(backed_path, backed="r")  # written by another process
    else:
        adata = sparse_counts(n_cells)
    backed = backed_path is not None
    density = adata.X.nnz / (n_cells * N_GENES) if not backed else float("nan")
    rng = np.random.default_rng(0)
    sets = {f"set{i}": list(rng.choice(adata.var_names, 50, replace=False)) for i in range(50)}
    t = time.perf_counter()
    ss.tl.ortho_ae(adata, max_epochs=2, patience=100, progress=False)
    t_train = time.perf_counter() - t
    epoch = float(np.mean(adata.uns["ortho_ae"]["history"]["seconds"]))
    t = time.perf_counter()
    ss.tl.saliency(adata, progress=False)
    t_sal = time.perf_counter() - t
    t = time.perf_counter()
    ss.tl.geneset_impact(adata, sets, groupby="group", progress=False)
    t_imp = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return {
        "cells": n_cells,
        "backed": backed,
        "density": density,
        "s_per_epoch": epoch,
        "train_s_2_epochs": t_train,
        "saliency_s": t_sal,
        "impact_s": t_imp,
        "peak_gib": peak,
        "device_data": adata.uns["ortho_ae"]["params"]["device_data"],
    }


def pbmc_end_to_end() -> float:
    """Seconds of PBMC 3k end to end with the defaults (:func:`end_to_end.one`)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from end_to_end import one as end_to_end

    return end_to_end("defaults")["total"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument(
        "--backed",
        type=int,
        nargs="*",
        default=[1_000_000],
        help="sizes also run from a backed .h5ad",
    )
    p.add_argument("--one", type=int)
    p.add_argument("--one-backed", default=None, help="path of a written .h5ad to read backed")
    p.add_argument("--write", nargs=2, metavar=("N", "PATH"), help="only write N cells to PATH")
    args = p.parse_args()
    if args.write:
        sparse_counts(int(args.write[0])).write_h5ad(args.write[1])
        return
    if args.one:
        print(json.dumps(one(args.one, args.one_backed)))
        return
    device = f"CUDA: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "CPU only"
    print(
        f"# {platform.machine()}, {torch.get_num_threads()} torch threads, torch "
        f"{torch.__version__}, {device}, {time.strftime('%Y-%m-%d')}"
    )
    print(
        f"# synthetic CSR counts, {N_GENES} genes, ~{DENSITY:.0%} non-zero; 64 units; "
        "impact: 50 sets x 9 groups, 1,000 null sets"
    )
    print("| cells | input | s / epoch | saliency s | impact s | peak RSS GiB | minibatches |")
    print("|---:|---|---:|---:|---:|---:|---|")
    rows = []
    runs = [(n, False) for n in args.sizes] + [(n, True) for n in args.backed]
    for n, backed in runs:
        cmd = [sys.executable, __file__, "--one", str(n)]
        if backed:  # the file is written by its own process, so generating it is not counted
            path = str(Path(tempfile.mkdtemp()) / "scale.h5ad")
            subprocess.run([sys.executable, __file__, "--write", str(n), path], check=True)
            cmd += ["--one-backed", path]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        rows.append(r)
        print(
            f"| {n:,} | {'backed h5ad' if backed else 'CSR in memory'} | "
            f"{r['s_per_epoch']:.2f} | {r['saliency_s']:.1f} | {r['impact_s']:.1f} | "
            f"{r['peak_gib']:.2f} | {r['device_data']} |",
            flush=True,
        )
    mem = [r for r in rows if not r["backed"]]
    for a, b in zip(mem, mem[1:], strict=False):
        print(
            f"# {a['cells']:,} -> {b['cells']:,} cells ({b['cells'] / a['cells']:.0f}x): "
            f"epoch time x{b['s_per_epoch'] / a['s_per_epoch']:.1f}"
        )
    print(
        f"# PBMC 3k end to end (train, saliency, Hallmark impact with 9 groups): "
        f"{pbmc_end_to_end():.1f} s"
    )


if __name__ == "__main__":
    main()
