"""scsaliency: orthogonal autoencoders and saliency maps for single-cell data, scanpy style.

>>> import scsaliency as ss
>>> ss.tl.ortho_ae(adata)          # obsm["X_ortho_ae"], uns["ortho_ae"]
>>> ss.tl.saliency(adata)          # varm["saliency"]
>>> ss.tl.geneset_impact(adata, "hallmark", groupby="cell_type")
>>> ss.pl.impact_heatmap(adata)
"""

from importlib.metadata import PackageNotFoundError, version

from . import datasets, get, pl, tl

try:
    __version__ = version("scsaliency")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["tl", "pl", "get", "datasets", "__version__"]
