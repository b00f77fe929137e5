"""Plots of what :mod:`scsaliency.tl` stored."""

__all__: list[str] = []
