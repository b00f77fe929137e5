"""Tools: compute and store results in the AnnData."""

from ._geneset_impact import geneset_impact
from ._ortho_ae import ortho_ae
from ._saliency import saliency
from ._transfer import transfer

__all__ = ["ortho_ae", "saliency", "geneset_impact", "transfer"]
