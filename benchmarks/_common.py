"""Shared set-up of the benchmarks: the PBMC 3k cells and genes the issues name."""

from __future__ import annotations

import numpy as np
import scanpy as sc
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score

import scsaliency as ss
from scsaliency.genesets import read_gmt


def pbmc_hallmark(extra_genes=()):
    """The 2,638 labelled PBMC 3k cells and the Hallmark-union genes detected in >= 3 cells."""
    adata = ss.datasets.pbmc3k()
    adata = adata[adata.obs["cell_type"].notna()].copy()
    adata.obs["cell_type"] = adata.obs["cell_type"].astype("category")
    genes = {g.upper() for s in read_gmt(ss.datasets.fetch("hallmark_human")).values() for g in s}
    genes |= {g.upper() for g in extra_genes}
    detected = np.asarray((adata.X > 0).sum(0)).ravel() >= 3
    keep = detected & adata.var_names.str.upper().isin(genes)
    return adata[:, keep].copy()


def kmeans_nmi(rep: np.ndarray, labels, seeds=range(5)) -> list[float]:
    """NMI of KMeans (k = number of labels) with the labels, one value per seed."""
    k = len(set(labels))
    return [
        normalized_mutual_info_score(labels, KMeans(k, n_init=10, random_state=s).fit_predict(rep))
        for s in seeds
    ]


def pca_reference(adata, n_comps: int = 50) -> np.ndarray:
    """50 principal components of log-normalised counts (scanpy defaults)."""
    b = adata.copy()
    sc.pp.normalize_total(b, target_sum=1e4)
    sc.pp.log1p(b)
    sc.pp.pca(b, n_comps=n_comps, random_state=0)
    return b.obsm["X_pca"]
