"""Which genes to train on by default (issue 27): all genes, highly variable genes, set genes.

PBMC 3k (2,638 labelled cells), tl.ortho_ae with its defaults otherwise, the same seeds, on:
- all:        every gene detected in >= 3 cells;
- hvg 2000:   scanpy's highly variable genes (sc.pp.highly_variable_genes, flavor "seurat",
              2,000 genes, on a log-normalised copy), the scanpy tutorial's selection;
- sets:       the genes of Hallmark + the 7 PBMC marker sets detected in >= 3 cells (the CLI's);
- hvg + sets: the union of the two.
Columns: genes, training epochs, seconds (training; saliency + impact), KMeans NMI with cell_type
(5 KMeans seeds) and the share of each cell's 15 nearest neighbours with its cell type (on the
square root of the units), sets that can be scored (>= 5 genes in the model), distinct sets
carried by a unit, and marker sets carried by a unit.
Run: SCSALIENCY_DATA_DIR=../shared/data python benchmarks/gene_selection.py [--seeds 0 1]
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import scanpy as sc
from _common import graph_scores, kmeans_nmi

import scsaliency as ss

warnings.filterwarnings("ignore")


def selections(adata, sets) -> dict[str, np.ndarray]:
    detected = np.asarray((adata.X > 0).sum(0)).ravel() >= 3
    b = adata.copy()
    sc.pp.normalize_total(b, target_sum=1e4)
    sc.pp.log1p(b)
    sc.pp.highly_variable_genes(b, n_top_genes=2000, flavor="seurat")
    hvg = b.var["highly_variable"].to_numpy()
    in_sets = ss.genesets.in_sets(adata.var_names, sets) & detected
    return {"all": detected, "hvg 2000": hvg, "sets": in_sets, "hvg + sets": hvg | in_sets}


def main(seeds) -> None:
    adata = ss.datasets.pbmc3k()
    adata = adata[adata.obs["cell_type"].notna()].copy()
    markers = ss.datasets.pbmc_markers()
    sets = {**ss.genesets.as_dict("hallmark", adata.var_names), **markers}
    labels = adata.obs["cell_type"].to_numpy()
    print(f"# PBMC 3k: {adata.n_obs} cells x {adata.n_vars} genes; Hallmark + 7 marker sets")
    print(f"# seeds {list(seeds)}; means over seeds")
    print(
        "| genes | n | epochs | train s | saliency + impact s | NMI | kNN purity | "
        "sets scored | sets carried | markers carried |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, mask in selections(adata, sets).items():
        rows = []
        for seed in seeds:
            a = adata.copy()
            t0 = time.perf_counter()
            ss.tl.ortho_ae(a, mask_var=mask, random_state=seed, progress=False)
            t1 = time.perf_counter()
            ss.tl.saliency(a, progress=False)
            ss.tl.geneset_impact(a, sets, random_state=seed, progress=False)
            t2 = time.perf_counter()
            rep = np.sqrt(a.obsm["X_ortho_ae"])
            u = ss.get.units(a)
            carried = set(u.loc[u["status"] == "carries a set", "gene_set"])
            rows.append(
                (
                    len(a.uns["ortho_ae"]["history"]["train_loss"]),
                    t1 - t0,
                    t2 - t1,
                    np.mean(kmeans_nmi(rep, labels)),
                    graph_scores(rep, labels)[0],
                    a.uns["geneset_impact"]["zscore"].shape[0],
                    len(carried),
                    len(carried & set(markers)),
                )
            )
        m = np.mean(rows, axis=0)
        print(
            f"| {name} | {int(mask.sum())} | {m[0]:.0f} | {m[1]:.0f} | {m[2]:.0f} | {m[3]:.3f} | "
            f"{m[4]:.3f} | {m[5]:.0f} | {m[6]:.1f} | {m[7]:.1f}/7 |",
            flush=True,
        )


if __name__ == "__main__":
    args = sys.argv[1:]
    main([int(s) for s in args[args.index("--seeds") + 1 :]] if "--seeds" in args else [0])
