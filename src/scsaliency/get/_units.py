"""``get.units``: one row per unit, with the gene set it carries."""

from __future__ import annotations

import pandas as pd
from anndata import AnnData

from .._stored import stored_units
from .._utils.docs import doc_params


@doc_params("impact_result")
def units(adata: AnnData, key: str = "geneset_impact") -> pd.DataFrame:
    """Which unit carries which gene set, one row per unit.

    Parameters
    ----------
    {impact_result}

    Returns
    -------
    Columns ``unit``, ``gene_set`` (the unit's best set), ``gene_sets`` (for a unit that
    carries a set: it and its near-ties, sets carried too with at least 0.8 of its z-score,
    joined by ``" / "``), ``score``, ``zscore``, ``padj``,
    ``impact``, ``second_set``, ``margin`` (score over the second set), ``share`` (of the set's
    positive z-score that falls on this unit), ``owner`` (whether the unit is the set's best),
    ``status`` (``"carries a set"``, ``"no significant set"``, ``"inactive"``, and
    ``"unstable"`` once :func:`scsaliency.tl.stability` found the unit's program in fewer than
    ``min_stability`` of its runs), ``label`` (e.g. ``"13: MARKERS_NK"``), ``stability`` and
    ``stability_cosine`` (for a consensus model, ``tl.ortho_ae(n_runs > 1)``, the share of the
    runs that found the unit's program and their median cosine to it; for a single run, from
    :func:`scsaliency.tl.stability`; NaN until it ran), and
    ``consensus_set`` and ``consensus_sets`` (the sets its consensus program carries, the
    strongest first and all of them joined by ``"; "``; empty without one), as stored in
    ``uns[key]["units"]``; sorted by unit. With consensus labels, ``status`` and ``label``
    follow the consensus set.
    """
    table = stored_units(adata, key)
    if table is None:
        raise KeyError(
            f"adata.uns[{key!r}] has no unit table (computed by an older version); "
            "run scsaliency.tl.geneset_impact again."
        )
    table.insert(0, "unit", table.index.astype(int))
    return table.sort_values("unit").reset_index(drop=True)
