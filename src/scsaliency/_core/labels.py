"""Which unit carries which gene set: one row per unit, from a sets x units impact table.

Used by :func:`scsaliency.tl.geneset_impact` (which stores the table), :func:`scsaliency.get.units`
and the plots (unit labels, the diagonal order of the heatmap). Knows nothing of AnnData.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: What ``status`` says of a unit (``UNSTABLE``: measured by ``tl.stability``, set on reading).
CARRIES, NO_SET, INACTIVE = "carries a set", "no significant set", "inactive"
UNSTABLE = "unstable"
_PREFIXES = ("HALLMARK_", "DMAP_", "MARKERS_")
#: A unit's second (third) best set is shown beside its best one, as a near-tie, when it is
#: carried too (significant as the best is) and its score is at least this share of the best's:
#: overlapping sets (interferon alpha and gamma response) then do not flip with a threshold.
TIE_RATIO = 0.8
#: Most sets one unit's label names.
MAX_TIED = 3
#: Between the tied sets of a unit's ``gene_sets`` and label.
TIE_SEPARATOR = " / "
#: Between the gene sets of one ``consensus_sets`` entry (``tl.stability``), strongest first.
SET_SEPARATOR = "; "


def clean_names(joined: str, strip_prefix: bool = True) -> str:
    """:func:`clean_name` of each of a label's near-tied sets (``"A / B"``), joined again."""
    return TIE_SEPARATOR.join(clean_name(n, strip_prefix) for n in joined.split(TIE_SEPARATOR))


def split_sets(joined) -> list[str]:
    """The gene sets of a ``consensus_sets`` entry, strongest first (none for ``""`` or NaN)."""
    if not isinstance(joined, str):
        return []
    return [s for s in joined.split(SET_SEPARATOR) if s]


def clean_name(name: str, strip_prefix: bool = True) -> str:
    """``HALLMARK_TNFA_SIGNALING_VIA_NFKB`` -> ``TNFA SIGNALING VIA NFKB`` (figures, report)."""
    if strip_prefix:
        for p in _PREFIXES:
            if name.startswith(p):
                name = name[len(p) :]
                break
        name = re.sub(r"_+", " ", name).strip()
    return name


def standardise_rows(impact: pd.DataFrame, units: list[str]) -> pd.DataFrame:
    """Impact centred and scaled per set over ``units``: what distinguishes units, not level.

    The ranking score when no expression-matched null was computed (``n_null=0``).
    """
    sub = impact.loc[:, units]
    sd = sub.std(axis=1, ddof=0).replace(0, np.nan)
    return sub.sub(sub.mean(axis=1), axis=0).div(sd, axis=0)


def significant(padj, padj_trimmed, alpha: float):
    """Where a set is carried: ``padj < alpha`` and, when given, ``padj_trimmed < alpha``.

    Scalars or arrays alike; the one rule behind the units table's status and the heatmap's
    dots.
    """
    sig = np.less(padj, alpha)
    return sig if padj_trimmed is None else sig & np.less(padj_trimmed, alpha)


def label_units(
    impact: pd.DataFrame,
    *,
    zscore: pd.DataFrame | None,
    padj: pd.DataFrame | None,
    padj_trimmed: pd.DataFrame | None = None,
    inactive: list[str],
    alpha: float = 0.05,
) -> pd.DataFrame:
    """One row per unit: its best gene set, how significant and how specific it is, a label.

    Parameters
    ----------
    impact
        Sets x units mean saliency.
    zscore, padj
        Sets x units z-score and adjusted p against expression-matched random sets; ``None``
        ranks by :func:`standardise_rows` instead and tests nothing.
    padj_trimmed
        Adjusted p of the same test without each set's strongest gene; when given, a unit
        carries its best set only if this is below ``alpha`` too, so that one gene cannot
        make a set the unit's.
    inactive
        Units left out (dead units): status ``"inactive"``.
    alpha
        A unit carries its best set when that set's ``padj < alpha`` (and
        ``padj_trimmed < alpha``).

    Returns
    -------
    Indexed by unit (``"0"``, ``"1"``, ...), columns: ``gene_set`` (highest score on the unit;
    ``""`` for inactive units), ``gene_sets`` (for a unit that carries a set: the set and its
    near-ties, sets carried too with at least :data:`TIE_RATIO` of its score, joined by
    ``" / "``; ``""`` otherwise),
    ``score`` (that score: z-score, or standardised impact without a null), ``zscore``,
    ``padj``, ``padj_trimmed`` (NaN when not given), ``impact``, ``second_set`` and
    ``margin`` (score minus the second set's),
    ``share`` (the positive part of the set's score on this unit over its sum across active
    units: 1 when no other unit carries the set), ``owner`` (whether this unit is the set's
    highest-scoring unit), ``status`` (``"carries a set"``, ``"no significant set"``,
    ``"inactive"``) and ``label`` (``"13: MARKERS_NK"``, ``"4: A / B"`` for a near-tie,
    ``"13: no significant set"``, ``"13: inactive"``).
    """
    units = [str(u) for u in impact.columns]
    dead = set(map(str, inactive))
    active = [u for u in units if u not in dead]
    score = zscore if zscore is not None else standardise_rows(impact, active)
    s = score.reindex(columns=units).to_numpy(dtype=np.float64)
    sets = np.asarray(impact.index, dtype=object)
    is_active = np.asarray([u not in dead for u in units])
    pos = np.where(np.isfinite(s) & is_active[None, :], np.maximum(s, 0), 0.0)
    total = pos.sum(axis=1)
    filled = np.where(np.isfinite(s), s, -np.inf)
    owner_of_set = filled.argmax(axis=1) if len(units) else np.zeros(len(sets), int)
    rows = []
    for j, u in enumerate(units):
        col = filled[:, j]
        order = np.argsort(-col, kind="stable")
        best = order[0]
        usable = is_active[j] and np.isfinite(col[best])
        second = order[1] if len(order) > 1 else None
        p = float(padj.iloc[best, j]) if padj is not None else np.nan
        p_trim = float(padj_trimmed.iloc[best, j]) if padj_trimmed is not None else np.nan
        if not is_active[j]:  # one rule: the inactive units are the ones listed as such
            status = INACTIVE
        elif not usable:  # active, but no set scores on it (e.g. no spread to standardise)
            status = NO_SET
        elif padj is None or significant(p, None if padj_trimmed is None else p_trim, alpha):
            status = CARRIES
        else:
            status = NO_SET
        tied = [sets[best]]
        if status == CARRIES and col[best] > 0:
            for i in order[1:MAX_TIED]:
                if not (np.isfinite(col[i]) and col[i] >= TIE_RATIO * col[best]):
                    break
                if padj is not None and not significant(
                    padj.iloc[i, j],
                    None if padj_trimmed is None else padj_trimmed.iloc[i, j],
                    alpha,
                ):
                    break
                tied.append(sets[i])
        rows.append(
            {
                "unit": u,
                "gene_set": sets[best] if usable else "",
                "gene_sets": TIE_SEPARATOR.join(tied) if status == CARRIES else "",
                "score": float(col[best]) if usable else np.nan,
                "zscore": float(zscore.iloc[best, j]) if usable and zscore is not None else np.nan,
                "padj": p if usable else np.nan,
                "padj_trimmed": p_trim if usable else np.nan,
                "impact": float(impact.iloc[best, j]),
                "second_set": sets[second] if usable and second is not None else "",
                "margin": float(col[best] - col[second])
                if usable and second is not None and np.isfinite(col[second])
                else np.nan,
                "share": float(pos[best, j] / total[best]) if usable and total[best] > 0 else 0.0,
                "owner": bool(usable and owner_of_set[best] == j),
                "status": status,
                "label": f"{u}: {TIE_SEPARATOR.join(tied)}"
                if status == CARRIES
                else f"{u}: {status}",
            }
        )
    table = pd.DataFrame(rows).set_index("unit")
    table.index.name = None
    return table


def diagonal_order(score: pd.DataFrame, units: list[str]) -> tuple[list[str], list[str]]:
    """Order sets (rows) and ``units`` (columns) so that each unit's best sets sit together.

    Units are ordered by their best score, strongest first, units with the same best set
    side by side; each set follows the unit it scores highest on, so the strong pairs fall on
    a diagonal (the picture the paper's Figure 1d intends).
    """
    sub = score.loc[:, units].astype(float)
    filled = sub.fillna(-np.inf).to_numpy()
    best_set = filled.argmax(axis=0)
    best_val = filled.max(axis=0)
    set_rank: dict[int, int] = {}
    for j in np.argsort(-best_val, kind="stable"):
        set_rank.setdefault(int(best_set[j]), len(set_rank))
    unit_order = sorted(range(len(units)), key=lambda j: (set_rank[int(best_set[j])], -best_val[j]))
    position = {j: k for k, j in enumerate(unit_order)}
    owner = filled.argmax(axis=1)
    strength = filled.max(axis=1)
    row_order = sorted(range(len(sub.index)), key=lambda i: (position[int(owner[i])], -strength[i]))
    return [sub.index[i] for i in row_order], [units[j] for j in unit_order]
