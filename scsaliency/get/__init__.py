"""Getters: rebuild stored models and return stored results as tidy DataFrames."""

from ._impact import impact, impact_diff
from ._model import model

__all__ = ["model", "impact", "impact_diff"]
