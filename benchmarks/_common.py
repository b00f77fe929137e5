"""Shared set-up of the benchmarks: the PBMC 3k cells and genes the issues name."""

from __future__ import annotations

import numpy as np
import scanpy as sc
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score

import scsaliency as ss
from scsaliency.genesets import read_gmt


def quiet(*loggers: str) -> None:
    """Only warnings from these loggers (the peers log every step at INFO)."""
    import logging

    for name in loggers:
        logging.getLogger(name).setLevel(logging.WARNING)


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


def kmeans_nmi(rep: np.ndarray, labels, seeds=range(5), n_init: int = 10) -> list[float]:
    """NMI of KMeans (k = number of labels) with the labels, one value per seed.

    ``n_init=1`` gives single k-means runs (the paper's protocol of 20 runs).
    """
    k = len(set(labels))
    return [
        normalized_mutual_info_score(
            labels, KMeans(k, n_init=n_init, random_state=s).fit_predict(rep)
        )
        for s in seeds
    ]


def graph_scores(rep: np.ndarray, labels, n_neighbors: int = 15) -> tuple[float, float, float]:
    """What a scanpy user's neighbour graph on ``rep`` says of the labels.

    kNN purity (share of each cell's neighbours with its label, mean over cells; scanpy's
    ``n_neighbors`` counts the cell itself, so that is ``n_neighbors - 1`` other cells) and NMI of
    Leiden clusters at resolution 0.5 and 1 (scanpy's default; NaN without ``igraph``), all on
    ``sc.pp.neighbors(use_rep=...)`` with ``random_state=0``.
    """
    b = sc.AnnData(np.zeros((len(rep), 1), dtype=np.float32))
    b.obsm["rep"] = np.asarray(rep, dtype=np.float32)
    sc.pp.neighbors(b, use_rep="rep", n_neighbors=n_neighbors, random_state=0)
    dist = b.obsp["distances"].tocsr()
    codes = np.unique(np.asarray(labels), return_inverse=True)[1]
    per_row = np.diff(dist.indptr)
    same = codes[dist.indices] == np.repeat(codes, per_row)
    purity = float(np.mean(np.bincount(np.repeat(np.arange(len(codes)), per_row), same) / per_row))
    nmis = []
    for resolution in (0.5, 1.0):
        try:
            sc.tl.leiden(
                b,
                resolution=resolution,
                random_state=0,
                flavor="igraph",
                n_iterations=2,
                directed=False,
            )
        except ImportError:
            nmis.append(float("nan"))
            continue
        nmis.append(normalized_mutual_info_score(labels, b.obs["leiden"]))
    return purity, nmis[0], nmis[1]


def pca_reference(adata, n_comps: int = 50) -> np.ndarray:
    """50 principal components of log-normalised counts (scanpy defaults)."""
    b = adata.copy()
    sc.pp.normalize_total(b, target_sum=1e4)
    sc.pp.log1p(b)
    sc.pp.pca(b, n_comps=n_comps, random_state=0)
    return b.obsm["X_pca"]
