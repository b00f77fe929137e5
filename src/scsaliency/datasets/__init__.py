"""Real data sets (from a local data directory, the cache, or a download) and synthetic data."""

from ._dmap import dmap_signatures, dmap_table
from ._markers import PBMC_MARKER_LABELS, pbmc_markers
from ._real import kang18, load, mixology, paul15, pbmc3k
from ._registry import DATA_DIR_VAR, fetch, manifest
from ._synthetic import synthetic

__all__ = [
    "pbmc3k",
    "paul15",
    "kang18",
    "mixology",
    "synthetic",
    "dmap_signatures",
    "dmap_table",
    "pbmc_markers",
    "PBMC_MARKER_LABELS",
    "load",
    "fetch",
    "manifest",
    "DATA_DIR_VAR",
]
