"""Read results that ``tl.saliency`` and ``tl.geneset_impact`` stored, with clear errors.

Shared by the tools, getters and plots that build on a stored result.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from anndata import AnnData

from ._labels import CARRIES, INACTIVE, NO_SET, UNSTABLE

#: A gene set that some unit carries in at most this share of ``tl.stability``'s runs is a
#: finding of the seed: the plots grey its name and the report counts it.
SEED_DEPENDENT = 0.5

#: Gene sets whose median over ``tl.stability``'s runs of their largest z-score over units is at
#: least this reproduced best between answers with other seeds (``docs/benchmarks.md``): the
#: report counts them.
ROBUST_ZSCORE = 5.0


def saliency_frame(adata: AnnData, key: str = "saliency") -> pd.DataFrame:
    """Model genes x units of ``varm[key]`` as a DataFrame (units named ``"0"``, ``"1"``, ...)."""
    entry = adata.uns.get(key)
    if not isinstance(entry, Mapping) or "var_names" not in entry or key not in adata.varm:
        raise KeyError(
            f"No saliency under {key!r}. Run scsaliency.tl.saliency(adata, "
            f"key_added={key!r}) first."
        )
    genes = np.asarray(entry["var_names"]).astype(str)
    m = adata.varm[key][adata.var_names.get_indexer(genes)]
    return pd.DataFrame(m, index=genes, columns=[str(k) for k in range(m.shape[1])])


def impact_entry(adata: AnnData, key: str = "geneset_impact") -> Mapping:
    """``adata.uns[key]`` checked to hold a gene-set impact, with a clear error otherwise."""
    entry = adata.uns.get(key)
    if not isinstance(entry, Mapping) or "impact" not in entry or "scaled" not in entry:
        raise KeyError(
            f"No gene-set impact in adata.uns[{key!r}]. Run "
            f"scsaliency.tl.geneset_impact(adata, gene_sets, key_added={key!r}) first."
        )
    return entry


def stored_units(adata: AnnData, key: str = "geneset_impact") -> pd.DataFrame | None:
    """The stored units table of an impact, with the model's stability when measured.

    Indexed by unit (``"0"``, ``"1"``, ...); ``None`` for results without a units table. When
    :func:`scsaliency.tl.stability` has scored the model's units, the table gains
    ``stability``, ``stability_cosine``, ``consensus_set`` and ``consensus_sets`` (empty
    without consensus labels). Active units below the stored ``min_stability`` get the status
    ``"unstable"``; with consensus labels, a stable unit carries its consensus set (or no set),
    whatever its own best set, and an unstable unit's label names its consensus set or, without
    one, the set it carries in this run, marked ``(unstable)``.
    """
    e = impact_entry(adata, key)
    if "units" not in e:
        return None
    table = e["units"].copy()
    table["stability"] = np.nan
    table["stability_cosine"] = np.nan
    table["consensus_set"] = ""
    table["consensus_sets"] = ""
    if "gene_sets" not in table:  # stored before near-ties were shown: the best set alone
        table["gene_sets"] = table["gene_set"].where(table["status"] == CARRIES, "")
    model = _model_of(adata, e)
    if model is not None and "consensus" in model:
        # a consensus model: each unit is a program that came back in this share of the runs
        units = model["consensus"]["units"]
        table["stability"] = units["runs"].reindex(table.index).to_numpy()
        table["stability_cosine"] = units["cosine"].reindex(table.index).to_numpy()
        return table
    stab = _model_stability(adata, e)
    if stab is None:
        return table
    units, minimum = stab["units"], float(stab["params"]["min_stability"])
    table["stability"] = units["stability"].reindex(table.index).to_numpy()
    table["stability_cosine"] = units["cosine"].reindex(table.index).to_numpy()
    active = table["status"] != INACTIVE
    own = table["status"] == CARRIES  # the run's own label, before any consensus
    names = pd.Series(table.index, index=table.index)
    if "consensus_set" in units:
        consensus = units["consensus_set"].reindex(table.index).fillna("").astype(str)
        table["consensus_set"] = consensus.to_numpy()
        if "consensus_sets" in units:  # results stored before it: the one set
            every = units["consensus_sets"].reindex(table.index).fillna("").astype(str)
            table["consensus_sets"] = every.to_numpy()
        else:
            table["consensus_sets"] = consensus.to_numpy()
        has = active & (consensus != "")
        table.loc[has, "status"] = CARRIES
        table.loc[has, "label"] = names[has] + ": " + consensus[has]
        table.loc[active & ~has, "status"] = NO_SET
        table.loc[active & ~has, "label"] = names[active & ~has] + f": {NO_SET}"
    low = active & (table["stability"] < minimum)
    # an unstable unit names its consensus set, or else the set it carries in this run: a lead
    carried = low & ((table["status"] == CARRIES) | own)
    shown = table["consensus_set"].where(table["consensus_set"] != "", table["gene_set"])
    table.loc[carried, "label"] = names[carried] + ": " + shown[carried] + " (unstable)"
    table.loc[low & ~carried, "label"] = names[low & ~carried] + f": {UNSTABLE}"
    table.loc[low, "status"] = UNSTABLE
    return table


def set_runs(adata: AnnData, key: str = "geneset_impact") -> pd.Series | None:
    """Per gene set, the share of ``tl.stability``'s runs in which some unit carries it.

    For the model behind the impact in ``uns[key]``; ``None`` until :func:`scsaliency.tl.stability`
    ran on it with gene sets.
    """
    sets = stored_set_table(adata, key)
    return None if sets is None else sets["runs"]


def stored_set_table(adata: AnnData, key: str = "geneset_impact") -> pd.DataFrame | None:
    """``tl.stability``'s per-set table for the model behind the impact, ``None`` as above.

    Columns added since (``median_zscore``, ``consensus_unit``) are absent from results
    stored before them.
    """
    stab = _model_stability(adata, impact_entry(adata, key))
    return None if stab is None or "sets" not in stab else stab["sets"]


def min_zscore(params: Mapping) -> float:
    """``tl.stability``'s stored ``min_zscore`` (:data:`ROBUST_ZSCORE` for results before it)."""
    return float(params.get("min_zscore", ROBUST_ZSCORE))


def shown_sets(table: pd.DataFrame) -> pd.Series:
    """Per unit of a :func:`stored_units`, the set(s) its label names, ``""`` for none.

    Near-ties (``gene_sets``) are named together, joined by ``" / "``.

    A unit names its set (the consensus set when there is one) when it carries it, or carried
    it before :func:`scsaliency.tl.stability` marked the unit unstable. The one rule behind the
    plots' unit labels and the report's table of units.
    """
    units = pd.Series(table.index, index=table.index)
    unstable_with_set = (table["status"] == UNSTABLE) & (table["label"] != units + f": {UNSTABLE}")
    named = (table["status"] == CARRIES) | unstable_with_set
    consensus = table["consensus_set"]
    own = table["gene_sets"].where(table["gene_sets"] != "", table["gene_set"])
    return consensus.where(consensus != "", own).where(named, "")


def _model_of(adata: AnnData, e: Mapping) -> Mapping | None:
    """The stored model behind an impact, if any."""
    saliency = adata.uns.get(e.get("params", {}).get("saliency_key", "saliency"))
    if not isinstance(saliency, Mapping):
        return None
    model = adata.uns.get(saliency.get("params", {}).get("model_key", "ortho_ae"))
    return model if isinstance(model, Mapping) else None


def _model_stability(adata: AnnData, e: Mapping) -> Mapping | None:
    """``tl.stability``'s result for the model behind an impact, if any."""
    model = _model_of(adata, e)
    if model is None or "stability" not in model:
        return None
    return model["stability"]
