"""Tools: compute and store results in the AnnData."""

from ._ortho_ae import ortho_ae

__all__ = ["ortho_ae"]
