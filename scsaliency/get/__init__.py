"""Getters: rebuild stored models and return stored results as tidy DataFrames."""

from ._diff import impact_diff
from ._impact import impact, units
from ._model import model
from ._saliency import saliency

__all__ = ["model", "saliency", "impact", "impact_diff", "units"]
