"""Tools: compute and store results in the AnnData."""

from ._align import align
from ._geneset_impact import geneset_impact
from ._n_latent_scan import n_latent_scan
from ._ortho_ae import ortho_ae
from ._saliency import saliency
from ._stability import stability
from ._transfer import transfer

__all__ = [
    "ortho_ae",
    "stability",
    "n_latent_scan",
    "saliency",
    "geneset_impact",
    "transfer",
    "align",
]
