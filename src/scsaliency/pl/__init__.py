"""Plots of what :mod:`scsaliency.tl` stored."""

from ._geneset_stability import geneset_stability
from ._impact_diff import impact_diff
from ._impact_heatmap import impact_heatmap
from ._n_latent_scan import n_latent_scan
from ._training_history import training_history
from ._unit_activity import unit_activity

__all__ = [
    "impact_heatmap",
    "impact_diff",
    "training_history",
    "unit_activity",
    "n_latent_scan",
    "geneset_stability",
]
