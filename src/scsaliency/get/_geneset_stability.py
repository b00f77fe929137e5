from __future__ import annotations

import pandas as pd
from anndata import AnnData

from .._stored import stability_entry
from .._utils.docs import doc_params


@doc_params("stability_model")
def geneset_stability(adata: AnnData, key: str = "ortho_ae") -> pd.DataFrame:
    """Per gene set, in how many repeated runs some unit carries it.

    :func:`scsaliency.tl.stability` trains the model again with other seeds and labels every
    run as a single run is labelled (each unit's best set, when significant). A set that some
    unit carries in every run is a finding that does not depend on the seed, whichever unit
    carries it; a set carried in half of the runs or fewer was carried by chance of the seed
    (:doc:`/benchmarks`).

    ``median_zscore`` reads the same runs without asking which set wins each unit; sets with a
    median of 5 or more reproduce best between answers with other seeds (:doc:`/benchmarks`).
    Those sets are the consensus labels: each goes to the consensus program on which it scores
    highest
    (``consensus_program``, ``consensus_unit``), and to the stable programs that repeat that
    program's biology, when it is their strongest set (``n_programs`` counts them all).

    Parameters
    ----------
    {stability_model}

    Returns
    -------
    One row per gene set of the runs' labels, most often carried first (ties by name):
    ``gene_set``, ``runs`` (share of runs, the model included, in which some unit carries it),
    ``median_zscore`` (the median over runs of the set's largest z-score over the run's units,
    whichever set wins those units; NaN where no run scored it), ``median_zscore_trimmed``
    (the same without the set's strongest gene; absent from results stored before it),
    ``consensus_program`` (the consensus program, a cluster of ``tl.stability``, that carries
    it most strongly, or -1), ``consensus_unit`` (the model's unit among that program's, which
    :func:`scsaliency.get.units` labels with it, or -1), ``n_programs`` (how many consensus
    programs carry it; absent from results stored before it) and ``in_model`` (whether the
    model's own units carry it, before any consensus), as stored in
    ``adata.uns[key]["stability"]["sets"]``.
    """
    stab = stability_entry(adata, key, sets=True)
    table = stab["sets"].rename_axis("gene_set").reset_index()
    table["gene_set"] = table["gene_set"].astype(str)
    table = table.sort_values(["runs", "gene_set"], ascending=[False, True], kind="stable")
    return table.reset_index(drop=True)
