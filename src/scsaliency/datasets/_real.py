"""Real single-cell data sets named in ``data_manifest.yaml``."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
from anndata import AnnData

from ._registry import entry, local_path, missing


def _provenance(name: str, adata: AnnData, *, exact: bool) -> AnnData:
    e = entry(name)
    adata.uns["dataset"] = {
        "name": name,
        "file": e["file"] if exact else e["download"]["url"],
        "manifest_file": e["file"],
        "is_manifest_file": exact,
        "source": e["source"],
        "license": e["license"],
        "citation": " ".join(e["citation"].split()),
    }
    if not exact:
        adata.uns["dataset"]["differs"] = " ".join(e["download"]["differs"].split())
    return adata


def pbmc3k() -> AnnData:
    """10x Genomics 3k PBMCs, raw UMI counts with Seurat tutorial cell types.

    The manifest file (``pbmc3k_counts.h5ad``) holds 2,700 cells x 13,714 genes (genes detected
    in at least 3 cells; duplicate symbols made unique with ``.1``), ``obs["cell_type"]``
    (9 types, NaN for 62 cells removed by the tutorial's QC) and ``obsm["X_umap_seurat"]``.
    It is read from ``$SCSALIENCY_DATA_DIR`` or the cache. Without it, the function falls back
    to :func:`scanpy.datasets.pbmc3k` (a download): the same cells with all 32,738 genes and
    **no cell-type labels**; genes detected in fewer than 3 cells are then removed.

    Returns
    -------
    AnnData with counts in ``X``; ``uns["dataset"]`` records the file, whether it is the
    manifest file (``is_manifest_file``), the source, license and citation.
    """
    path = local_path("pbmc3k")
    if path is not None:
        return _provenance("pbmc3k", ad.read_h5ad(path), exact=True)
    adata = _scanpy_download("pbmc3k")
    adata.var_names_make_unique()
    adata = adata[:, np.asarray((adata.X > 0).sum(0)).ravel() >= 3].copy()
    return _provenance("pbmc3k", adata, exact=False)


#: Coarse cell type of each Paul et al. (2015) cluster, from the cluster names.
PAUL15_CELL_TYPES = {
    "Ery": "erythroid",
    "MEP": "MEP",
    "Mk": "megakaryocyte",
    "GMP": "GMP",
    "DC": "DC",
    "Baso": "basophil",
    "Mo": "monocyte",
    "Neu": "neutrophil",
    "Eos": "eosinophil",
    "Lymph": "lymphoid",
}


def paul15() -> AnnData:
    """Paul et al. (2015) mouse myeloid progenitors: the full data, with clusters and cell types.

    The manifest file (``paul15_counts.h5ad``, what :func:`scanpy.datasets.paul15` serves) holds
    2,730 cells x 3,451 genes of UMI counts and ``obs["paul15_clusters"]`` (19 clusters,
    ``1Ery`` ... ``19Lymph``). A coarse ``obs["cell_type"]`` is derived from the cluster names:
    erythroid (clusters 1-6), MEP (7), megakaryocyte (8), GMP (9-10), DC (11), basophil
    (12-13), monocyte (14-15), neutrophil (16-17), eosinophil (18), lymphoid (19). Read from
    ``$SCSALIENCY_DATA_DIR`` or the cache; without it, downloaded by
    :func:`scanpy.datasets.paul15`.

    Returns
    -------
    AnnData with counts in ``X`` and provenance in ``uns["dataset"]``.
    """
    path = local_path("paul15")
    if path is not None:
        adata = _provenance("paul15", ad.read_h5ad(path), exact=True)
    else:
        adata = _provenance("paul15", _scanpy_download("paul15"), exact=False)
    clusters = adata.obs["paul15_clusters"].astype(str)
    kind = clusters.str.replace(r"^\d+", "", regex=True)
    order = list(dict.fromkeys(PAUL15_CELL_TYPES.values()))
    adata.obs["cell_type"] = pd.Categorical(kind.map(PAUL15_CELL_TYPES), categories=order)
    return adata


def kang18() -> AnnData:
    """Kang et al. (2018) PBMC of 2 donors, control and interferon-beta stimulated.

    The manifest file (``kang18_ifnb_pbmc_counts.h5ad``, the subset Bioconductor's muscat ships)
    holds 1,556 cells x 1,267 genes of integer UMI counts with ``obs["cell_type"]`` (5 types),
    ``obs["condition"]`` (``ctrl``, ``stim``), ``obs["donor"]`` and ``obs["sample"]`` (donor x
    condition). Read from ``$SCSALIENCY_DATA_DIR`` or the cache; there is no download.

    Returns
    -------
    AnnData with counts in ``X`` and provenance in ``uns["dataset"]``.
    """
    return _local("kang18")


def mixology() -> AnnData:
    """Tian et al. (2019) three cell lines profiled with two technologies (a batch benchmark).

    The manifest file (``mixology_3celllines_2tech_counts.h5ad``) holds 450 cells x 15,073
    Ensembl gene ids of integer counts with ``obs["cell_line"]`` (H1975, H2228, HCC827) and
    ``obs["technology"]`` (CEL-seq2, Drop-seq). Read from ``$SCSALIENCY_DATA_DIR`` or the cache;
    there is no download.

    Returns
    -------
    AnnData with counts in ``X`` and provenance in ``uns["dataset"]``.
    """
    return _local("mixology")


def _local(name: str) -> AnnData:
    path = local_path(name)
    if path is None:
        raise FileNotFoundError(missing(name))
    return _provenance(name, ad.read_h5ad(path), exact=True)


def _scanpy_download(name: str) -> AnnData:
    """Scanpy's copy of a data set (a download); offline, one message of ours."""
    import scanpy as sc

    try:
        return getattr(sc.datasets, name)()
    except OSError as err:  # urllib's URLError and HTTPError are OSErrors
        raise FileNotFoundError(missing(name, entry(name)["download"]["url"], err)) from None


def load(name: str) -> AnnData:
    """Load a data set of the manifest by name: pbmc3k, paul15, kang18 or mixology."""
    loaders = {"pbmc3k": pbmc3k, "paul15": paul15, "kang18": kang18, "mixology": mixology}
    if name not in loaders:
        raise KeyError(f"Unknown data set {name!r}; known: {sorted(loaders)}.")
    return loaders[name]()
