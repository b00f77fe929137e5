"""What a gene-set heatmap shows and how it draws: values, rows, columns, sizes, one panel.

Shared by :func:`scsaliency.pl.impact_heatmap`, :func:`scsaliency.pl.impact_diff` and
:func:`scsaliency.pl.unit_activity`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import leaves_list, linkage

from .._core.labels import diagonal_order, standardise_rows
from ._utils import clean_name


def _order(m: np.ndarray) -> np.ndarray:
    if len(m) < 3:
        return np.arange(len(m))
    return leaves_list(linkage(m, method="average", metric="euclidean", optimal_ordering=True))


def shown_values(e: Mapping, values: str | None) -> tuple[pd.DataFrame, str]:
    """The sets x units table a heatmap shows, and its colour-bar label.

    ``None`` picks ``"zscore"`` when a null was computed, else ``"centred"`` (``"scaled"``
    with a single active unit, over which nothing can be standardised).
    """
    if values is None:
        n_active = len([u for u in e["impact"].columns if u not in inactive(e)])
        values = "zscore" if "zscore" in e else "centred" if n_active > 1 else "scaled"
    if values == "scaled":
        return e["scaled"], "scaled impact"
    if values == "zscore":
        if "zscore" not in e:
            raise KeyError("No z-scores stored; run tl.geneset_impact with n_null > 0.")
        return e["zscore"], "z-score vs matched random sets"
    if values == "centred":
        units = [u for u in e["impact"].columns if u not in inactive(e)]
        return standardise_rows(e["impact"], units), "impact, standardised per set"
    raise ValueError(f"values must be 'zscore', 'centred' or 'scaled', got {values!r}.")


def inactive(e: Mapping) -> set[str]:
    return set(map(str, e.get("inactive_units", [])))


def layout(
    e: Mapping,
    values: str | None = None,
    *,
    min_impact: float = 0.1,
    top: int | None = 30,
    order: str = "diagonal",
):
    """Gene sets (rows) and units (columns) shown, in display order.

    With ``values="scaled"``: sets whose largest scaled impact reaches ``min_impact`` and the
    units that reach it on a shown set. Otherwise the ``top`` sets with the highest score
    (z-score or standardised impact) on any active unit, and all active units. Inactive units
    are never shown. ``order``: ``"diagonal"`` puts each unit's best sets beside it
    (:func:`scsaliency._core.labels.diagonal_order`), ``"cluster"`` orders rows and columns by
    average-linkage clustering, ``"none"`` by score and unit index.
    """
    if order not in ("diagonal", "cluster", "none"):
        raise ValueError(f"order must be 'diagonal', 'cluster' or 'none', got {order!r}.")
    if top is not None and top < 1:
        raise ValueError(f"top must be at least 1 (or None for all sets), got {top!r}.")
    table, _ = shown_values(e, values)
    table = table.loc[:, [u for u in table.columns if u not in inactive(e)]]
    if table.shape[1] == 0:
        raise ValueError("Every unit is inactive; there is nothing to show.")
    best = table.max(axis=1)
    if values == "scaled":
        rows = best[best >= min_impact].sort_values(ascending=False)
        if rows.empty:
            raise ValueError(
                f"No gene set reaches min_impact={min_impact} (largest scaled impact: "
                f"{best.max():.3g}); lower min_impact."
            )
    else:
        rows = best.dropna().sort_values(ascending=False)
        if rows.empty:
            raise ValueError(
                f"values={values!r} has no finite value to show (a standardised impact needs at "
                "least two active units, a z-score a null: tl.geneset_impact with n_null > 0); "
                "use values='scaled'."
            )
    if top is not None:
        rows = rows.iloc[:top]
    sub = table.loc[rows.index]
    if values == "scaled":
        sub = sub.loc[:, sub.columns[sub.max(axis=0) >= min_impact]]
    if order == "diagonal":
        return diagonal_order(sub, list(sub.columns))
    if order == "cluster":
        m = sub.fillna(0).to_numpy()
        sub = sub.iloc[_order(m), _order(m.T)]
    return list(sub.index), list(sub.columns)


def auto_size(
    rows: Sequence[str], col_labels: Sequence[str], strip_prefix: bool
) -> tuple[float, float]:
    label = max(len(clean_name(r, strip_prefix)) for r in rows)
    col_label = max(len(c) for c in col_labels)
    width = min(1.2 + 0.065 * label + 0.17 * len(col_labels) + 1.0, 24)
    return width, min(1.3 + 0.2 * len(rows) + 0.06 * col_label, 22)


def draw(
    ax,
    m: pd.DataFrame,
    *,
    cmap,
    vmin,
    vmax,
    sig: np.ndarray | None,
    strip_prefix: bool,
    col_labels: Sequence[str] | None = None,
):
    cm = plt.get_cmap(cmap).with_extremes(bad="#e6e6e6")
    im = ax.imshow(
        np.ma.masked_invalid(m.to_numpy(dtype=float)),
        aspect="auto",
        cmap=cm,
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
    )
    ax.set_yticks(range(len(m.index)), [clean_name(r, strip_prefix) for r in m.index], fontsize=7)
    ax.set_xticks(range(len(m.columns)), col_labels or list(m.columns), fontsize=6, rotation=90)
    ax.set_xlabel("unit")
    ax.tick_params(length=1.5, pad=1)
    if sig is not None and sig.any():
        i, j = np.nonzero(sig)
        ax.scatter(j, i, s=5, c="black", edgecolors="white", linewidths=0.4, marker="o")
    return im
