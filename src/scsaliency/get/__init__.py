"""Getters: rebuild stored models and return stored results as tidy DataFrames."""

from ._batch_effects import batch_effects
from ._batch_share import batch_share
from ._geneset_stability import geneset_stability
from ._impact import impact
from ._impact_diff import impact_diff
from ._model import model
from ._programs import programs
from ._saliency import saliency
from ._units import units

__all__ = [
    "model",
    "programs",
    "batch_effects",
    "batch_share",
    "saliency",
    "impact",
    "impact_diff",
    "units",
    "geneset_stability",
]
