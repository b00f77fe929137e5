"""Shared plotting conventions: scanpy's ``show``/``save``/``return_fig`` and label cleaning."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

_PREFIXES = ("HALLMARK_", "DMAP_", "MARKERS_")


def clean_name(name: str, strip_prefix: bool = True) -> str:
    """``HALLMARK_TNFA_SIGNALING_VIA_NFKB`` -> ``TNFA SIGNALING VIA NFKB``."""
    if strip_prefix:
        for p in _PREFIXES:
            if name.startswith(p):
                name = name[len(p) :]
                break
        name = re.sub(r"_+", " ", name).strip()
    return name


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
