"""Plots of what :mod:`scsaliency.tl` stored."""

from ._history import training_history
from ._impact import impact_diff, impact_heatmap
from ._units import unit_activity

__all__ = ["impact_heatmap", "impact_diff", "training_history", "unit_activity"]
