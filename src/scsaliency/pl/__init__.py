"""Plots of what :mod:`scsaliency.tl` stored."""

from ._activity import unit_activity
from ._diffmap import impact_diff
from ._heatmap import impact_heatmap
from ._history import training_history
from ._scan import n_latent_scan
from ._stability import geneset_stability

__all__ = [
    "impact_heatmap",
    "impact_diff",
    "training_history",
    "unit_activity",
    "n_latent_scan",
    "geneset_stability",
]
