"""The paper's numbers on the same data (issue 26): k-means on the representation, and time.

Kinalis et al. (2019) clustered the representation with k-means (20 runs) and compared the
NMI with the published labels against k-means on PCA and on the raw input; and reported the
training time (PBMC: 15.4 min for 70 epochs; Paul15: 38 min for 310 epochs; a GPU, batch
size 1). Here, per data set, with the package's defaults:
- PBMC 3k: the 2,638 labelled cells, the genes of Hallmark + 7 PBMC marker sets detected in
  >= 3 cells (as the command line trains), labels: the 9 Seurat tutorial cell types;
- Paul15: the full 2,730 cells x 3,451 genes, labels: the 19 published clusters;
k-means (k = number of labels, n_init=1, 20 seeds) NMI on: the units, their square root, PCA(50)
of log-normalised counts, and the raw input (log-normalised counts of the model's genes);
training seconds and epochs on this machine (2 CPU cores).
Run: SCSALIENCY_DATA_DIR=../shared/data python benchmarks/paper.py
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import scanpy as sc
from _common import kmeans_nmi, pbmc_hallmark

import scsaliency as ss

warnings.filterwarnings("ignore")


def table(name: str, adata, labels) -> None:
    t = time.perf_counter()
    ss.tl.ortho_ae(adata, random_state=0, progress=False)
    seconds = time.perf_counter() - t
    p = adata.uns["ortho_ae"]["params"]
    b = adata[:, np.asarray(adata.uns["ortho_ae"]["var_names"]).astype(str)].copy()
    sc.pp.normalize_total(b, target_sum=1e4)
    sc.pp.log1p(b)
    raw = b.X.toarray() if hasattr(b.X, "toarray") else np.asarray(b.X)
    sc.pp.pca(b, n_comps=50, random_state=0)
    print(f"\n# {name}: {adata.n_obs} cells x {b.n_vars} genes, {len(set(labels))} labels")
    print(
        f"# training: {seconds:.1f} s, {p['n_epochs']} epochs ({seconds / p['n_epochs']:.2f} s "
        "per epoch), 2 CPU cores"
    )
    print("| representation | dimensions | k-means NMI (20 runs, mean +- sd) |")
    print("|---|---:|---:|")
    for label, rep in (
        ("units", adata.obsm["X_ortho_ae"]),
        ("square root of the units", np.sqrt(adata.obsm["X_ortho_ae"])),
        ("PCA(50) of log-normalised counts", b.obsm["X_pca"]),
        ("raw input (log-normalised counts)", raw),
    ):
        values = kmeans_nmi(rep, labels, seeds=range(20), n_init=1)
        mean, sd = np.mean(values), np.std(values)
        print(f"| {label} | {rep.shape[1]} | {mean:.3f} +- {sd:.3f} |", flush=True)


if __name__ == "__main__":
    markers = ss.datasets.pbmc_markers()
    pbmc = pbmc_hallmark(extra_genes=[g for s in markers.values() for g in s])
    table("PBMC 3k", pbmc, pbmc.obs["cell_type"].astype(str).to_numpy())
    paul = ss.datasets.paul15()
    table("Paul15", paul, paul.obs["paul15_clusters"].astype(str).to_numpy())
