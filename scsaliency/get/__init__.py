"""Getters: rebuild stored models and return stored results as tidy DataFrames."""

from ._model import model

__all__ = ["model"]
