"""Shared plotting conventions: scanpy's ``show``/``save``/``return_fig`` and label cleaning."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .._core.labels import clean_name, clean_names
from .._stored import SEED_DEPENDENT, shown_sets

__all__ = ["GREYED", "clean_name", "finish", "grey_seed_sets", "grey_unstable", "unit_labels"]

#: What greyed tick labels mean once ``tl.stability`` ran (for the plots' titles).
GREYED = (
    "unstable units, and sets that some unit carries in at most half of the repeated runs "
    "(tl.stability)"
)


def unit_labels(table, units, strip_prefix: bool = True) -> list[str]:
    """Axis labels for ``units`` from a units table (``_stored.stored_units``): ``"13: NK"``.

    Units that carry no significant set keep only their number and status; an unstable unit
    (``tl.stability``) keeps its set's name with a ``?``. Without a unit table (results of an
    older version) the label is the unit number.
    """
    if table is None:
        return [str(u) for u in units]
    shown = shown_sets(table)
    out = []
    for u in units:
        status = table.loc[str(u), "status"]
        if shown[str(u)]:
            name = clean_names(shown[str(u)], strip_prefix)
            name += "?" if status == "unstable" else ""
        else:
            name = "-" if status == "no significant set" else status
        out.append(f"{u}: {name}")
    return out


def grey_unstable(ax, table, units, axis: str = "x") -> None:
    """Grey the tick labels of units that ``tl.stability`` marked unstable."""
    if table is None:
        return
    ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    for tick, u in zip(ticks, units, strict=False):
        if table.loc[str(u), "status"] == "unstable":
            tick.set_color("0.6")


def grey_seed_sets(ax, runs, rows) -> None:
    """Grey the row labels of gene sets that some unit carries in at most half of the runs.

    ``runs`` is :func:`scsaliency._stored.set_runs` (``None``: nothing to grey); sets that the
    runs were not labelled with stay as they are.
    """
    if runs is None:
        return
    for tick, name in zip(ax.get_yticklabels(), rows, strict=False):
        if name in runs.index and runs[name] <= SEED_DEPENDENT:
            tick.set_color("0.6")


def finish(
    fig: Figure,
    axes,
    *,
    show: bool | None,
    save: str | Path | bool | None,
    return_fig: bool,
    default_name: str,
):
    """Save and/or show as scanpy does; return the figure, the axes, or ``None`` when shown."""
    if save:
        import scanpy as sc

        path = Path(sc.settings.figdir) / f"{default_name}.png" if save is True else Path(save)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150, bbox_inches="tight")
    if return_fig:
        return fig
    if show is None:
        import scanpy as sc

        show = bool(sc.settings.autoshow) and plt.get_backend().lower() != "agg"
    if show:
        plt.show()
        return None
    return axes
