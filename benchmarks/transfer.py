"""Models that travel (issue 11): tl.transfer against training on the data itself.

1. PBMC 3k (2,638 labelled cells, Hallmark-union genes detected in >= 3 cells), split at random
   into halves A and B (3 seeds: split and training). A model trained on A is transferred to B;
   KMeans NMI (k = 8 cell types, 5 KMeans seeds) of B's transferred representation against that
   of B's cells in a model trained on all cells. Training and transfer seconds side by side.
2. Missing genes: B with its genes shuffled and 0, 10, 20, 40 % of the model's genes removed;
   NMI of the transferred representation (mean over the 3 seeds).
3. Speed: cells per second of tl.transfer on 100,000 synthetic sparse cells (3,000 genes),
   in memory and backed (read_h5ad(..., backed="r")).
Run: SCSALIENCY_DATA_DIR=../shared/data python benchmarks/transfer.py [--quick]
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
from _common import kmeans_nmi, pbmc_hallmark
from scale import sparse_counts

import scsaliency as ss

warnings.filterwarnings("ignore")
QUICK = "--quick" in sys.argv
SEEDS = [0] if QUICK else [0, 1, 2]
MISSING = [0.0, 0.1, 0.2, 0.4]


def nmi(rep, labels) -> float:
    return float(np.mean(kmeans_nmi(rep, labels, seeds=range(2 if QUICK else 5))))


def pbmc() -> None:
    adata = pbmc_hallmark()
    labels = adata.obs["cell_type"].astype(str).to_numpy()
    rows, lost = [], {m: [] for m in MISSING}
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        in_a = np.zeros(adata.n_obs, dtype=bool)
        in_a[rng.permutation(adata.n_obs)[: adata.n_obs // 2]] = True
        full, a, b = adata.copy(), adata[in_a].copy(), adata[~in_a].copy()
        t0 = time.perf_counter()
        ss.tl.ortho_ae(full, random_state=seed, progress=False)
        t_full = time.perf_counter() - t0
        t0 = time.perf_counter()
        ss.tl.ortho_ae(a, random_state=seed, progress=False)
        t_a = time.perf_counter() - t0
        t0 = time.perf_counter()
        ss.tl.transfer(b, a)
        t_transfer = time.perf_counter() - t0
        rows.append(
            (
                nmi(full.obsm["X_ortho_ae"][~in_a], labels[~in_a]),
                nmi(b.obsm["X_ortho_ae"], labels[~in_a]),
                t_full,
                t_a,
                t_transfer,
            )
        )
        genes = np.asarray(a.uns["ortho_ae"]["var_names"]).astype(str)
        for m in MISSING:
            drop = set(rng.choice(genes, int(round(m * len(genes))), replace=False))
            keep = [g for g in rng.permutation(b.var_names) if g not in drop]
            q = b[:, keep].copy()
            ss.tl.transfer(q, a)
            lost[m].append(nmi(q.obsm["X_ortho_ae"], labels[~in_a]))
    r = np.asarray(rows)
    print(f"PBMC 3k, half B ({int((~in_a).sum())} cells), {len(SEEDS)} seeds; NMI mean (min-max)")
    print(f"{'representation of B':44s} {'NMI':>22s} {'seconds':>9s}")
    for name, col, t in [
        ("model trained on all cells", 0, 2),
        ("model trained on A, transferred to B", 1, 4),
    ]:
        v = r[:, col]
        print(f"{name:44s} {v.mean():8.3f} ({v.min():.3f}-{v.max():.3f}) {r[:, t].mean():9.2f}")
    print(f"  training on A: {r[:, 3].mean():.2f} s; transfer to B: {r[:, 4].mean():.3f} s")
    print(f"  NMI difference (transferred - all cells): {np.mean(r[:, 1] - r[:, 0]):+.3f}")
    print("\nMissing genes (B shuffled, share of the model's genes removed): NMI mean")
    for m in MISSING:
        print(f"  {m:4.0%} missing: {np.mean(lost[m]):.3f}")


def speed() -> None:
    n_cells = 20_000 if QUICK else 100_000
    ref = sparse_counts(5000, seed=1)
    ss.tl.ortho_ae(ref, max_epochs=3, progress=False)
    query = sparse_counts(n_cells, seed=2)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "query.h5ad"
        query.write_h5ad(path)
        print(f"\nSpeed: tl.transfer on {n_cells:,} synthetic cells, 3,000 genes, 64 units")
        for name, data in [("in memory", query), ("backed", ad.read_h5ad(path, backed="r"))]:
            t0 = time.perf_counter()
            ss.tl.transfer(data, ref)
            dt = time.perf_counter() - t0
            print(f"  {name:10s} {dt:7.2f} s  {n_cells / dt:10,.0f} cells/s")
            if name == "backed":
                data.file.close()


if __name__ == "__main__":
    pbmc()
    speed()
