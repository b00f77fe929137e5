"""Getters: rebuild stored models and return stored results as tidy DataFrames."""

from ._batch import batch_effects, batch_share
from ._impact_diff import impact_diff
from ._maps import saliency
from ._model import model
from ._programs import programs
from ._stability import geneset_stability
from ._tables import impact, units

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
