"""``tl.stability``: how far each unit of a model comes back when training is repeated."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from anndata import AnnData
from tqdm.auto import tqdm

from .._core.consensus import SetScores, consensus
from .._core.labels import CARRIES
from .._stored import ROBUST_ZSCORE, StoredModel, program_vectors
from .._utils import validate as _validate
from .._utils.docs import doc_params
from ..genesets import GeneSetsLike, as_dict
from ._geneset_impact import geneset_impact
from ._ortho_ae import ortho_ae
from ._saliency import saliency

#: Settings of ``tl.ortho_ae`` that a repeated run takes over from the stored model.
_SETTINGS = (
    "n_latent",
    "n_hidden",
    "ortho_weight",
    "decoder",
    "program_init",
    "program_lr",
    "center_input",
    "sparsity",
    "scale_units",
    "library_size",
    "optimizer",
    "lr",
    "max_epochs",
    "patience",
    "tol",
    "validation_fraction",
)


@doc_params("model_key", "device", "copy", "progress")
def stability(
    adata: AnnData,
    gene_sets: GeneSetsLike | None = None,
    *,
    model_key: str = "ortho_ae",
    n_runs: int = 5,
    threshold: float = 0.8,
    min_stability: float = 0.5,
    min_zscore: float = ROBUST_ZSCORE,
    min_votes: float | None = None,
    random_state: int = 0,
    max_epochs: int | None = None,
    device: str = "auto",
    copy: bool = False,
    progress: bool = True,
) -> AnnData | None:
    """Train the model again ``n_runs`` times with other seeds: which units, and labels, return.

    Each run trains :func:`scsaliency.tl.ortho_ae` on the same cells, genes and settings as the
    stored model, with its own seed. The gene programs of the model and of all runs (the square
    root of each unit's expected counts, L2-normalised) are pooled and clustered (KMeans with
    as many clusters as units), as cNMF (Kotliar et al. 2019) finds consensus programs. A
    cluster's consensus program is the median of its programs within ``threshold`` cosine of
    the cluster's median (KMeans also lumps programs that no run repeats into some cluster;
    those are left out). A unit's stability is the share of runs, the model included, with a
    program in its cluster within ``threshold`` cosine of the unit's own: a unit that comes
    back describes the data; one that does not was shaped by the seed.

    With ``gene_sets``, each run is also explained (:func:`scsaliency.tl.saliency` and
    :func:`scsaliency.tl.geneset_impact` on the whole data). A gene set is a finding of the
    runs when some unit carries it in every run, or when the median over runs of its largest
    z-score over units is at least ``min_zscore``, whichever set wins those units (a set strong
    in most runs but beaten by an overlapping set in some), and at least 3 without the set's
    strongest gene (not one gene's noise); each such set goes to the consensus program (a
    cluster in at least ``min_stability`` of the runs) on which its median z-score over the
    cluster's programs is highest, when at least 3 there or carried in every run: the consensus
    labels, and a program may carry several sets. A stable program that repeats another's
    biology (two complement programs) also carries the found set it is strongest on, at a median
    z-score of at least 4 there. A single run's labels change with the seed for about half of its
    units; these consensus labels reproduce far better (:doc:`/benchmarks`).

    :func:`scsaliency.get.units` then shows each unit's ``stability``, ``consensus_set`` and
    ``consensus_sets``;
    units below ``min_stability`` get the status ``"unstable"``, and with ``gene_sets`` a unit
    carries its consensus set (greyed labels in the plots for unstable units).
    :func:`scsaliency.get.geneset_stability` shows, per gene set, the share of runs in which
    some unit carries it, its median z-score and the program that carries it: a set carried in
    every run is a finding that does not depend on the seed, whichever unit carries it; one
    carried in half of the runs or fewer is not (:doc:`/benchmarks`).

    Parameters
    ----------
    adata
        The AnnData the model in ``uns[model_key]`` was trained on (additive decoder).
    gene_sets
        Gene sets to label the runs' units with, as for :func:`scsaliency.tl.geneset_impact`;
        ``None`` measures program stability only (faster).
    {model_key}
    n_runs
        Repeated runs. Each costs one training (and with ``gene_sets`` one saliency and
        impact); 5 gives stability in steps of 1/6. More runs reproduce the consensus sets
        better (:doc:`/benchmarks`): raise it when the gene sets are the finding.
    threshold
        Cosine above which a run's program counts as the same program: to the unit's program
        for the unit's stability, to the cluster's median for the consensus program.
    min_stability
        Units whose stability is below this get the status ``"unstable"``.
    min_zscore
        A set labels a consensus program when the median over runs of its largest z-score
        over units is at least this (or some unit carries it in every run). 5 reproduced best
        between answers on the three data sets measured (:doc:`/benchmarks`); lower it for
        more sets that reproduce less, raise it for fewer.
    min_votes
        Deprecated, no effect (the earlier consensus rule needed the set significant in this
        share of runs); it will be removed.
    random_state
        Seed of the runs' seeds (which differ from the model's) and of the clustering.
    max_epochs
        Upper bound on each run's epochs; ``None``: the model's setting (each run stops
        early as the model did). Fewer epochs cost less and give less converged programs.
    {device}
    {copy}
    {progress}

    Returns
    -------
    ``None``, or the copy. Stores ``adata.uns[model_key]["stability"]``: ``"units"`` (DataFrame
    indexed by unit, ``"0"``, ``"1"``, ...: ``stability``, ``cosine``, the mean cosine of the
    runs' programs in the unit's cluster to the unit's program, and with ``gene_sets`` its
    cluster's ``consensus_set``, ``consensus_sets`` and ``consensus_zscore`` when the unit is
    among the cluster's consensus programs, else empty), ``"clusters"`` (the consensus
    programs, one row per cluster: ``runs``, the share of runs with a program in it within
    ``threshold`` of its median; ``unit``, the model's unit among those or -1; with
    ``gene_sets`` ``consensus_sets``, the sets it carries joined by ``"; "``, strongest first,
    ``consensus_set``, the first of them or ``""``, and ``consensus_zscore``, that set's median
    z-score over the cluster's programs), with ``gene_sets`` ``"sets"`` (DataFrame indexed by
    gene set: ``runs``, the share of runs, the model included, in which some unit carries the
    set as a single run's labels go; ``median_zscore``, the median over runs of the set's
    largest z-score over the run's units; ``median_zscore_trimmed``, the same without the set's
    strongest gene; ``consensus_program``, the cluster that carries it most strongly (owns
    it) or -1; ``consensus_unit``, the model's unit in that cluster or -1; ``n_programs``, how
    many clusters carry it (the owner and the second copies); ``in_model``, whether the
    model's own units carry it), ``"programs"`` (clusters x model genes: each cluster's
    consensus program, the square root of expected counts with rows of length 1) and
    ``"params"`` (``n_runs``, ``threshold``, ``max_epochs`` (of each run), ``min_stability``,
    ``min_zscore``, ``random_state``, ``seeds``, ``labelled``).
    """
    _validate.check_tool(adata, copy=copy, device=device)
    random_state = _validate.seed(random_state)
    _validate.check_integers(2, n_runs=n_runs)
    model = StoredModel.load(adata, model_key)
    if model.programs() is None:
        raise ValueError(
            f"The model in adata.uns[{model_key!r}] has the mlp decoder, which has no gene "
            "programs to compare; stability needs decoder='additive'."
        )
    if "consensus" in model.entry:
        raise ValueError(
            f"The model in adata.uns[{model_key!r}] is a consensus model (tl.ortho_ae with "
            "n_runs > 1): its units are the programs that came back in most runs, and "
            "get.units shows each one's share of runs as its stability. tl.stability measures "
            "a single run (n_runs=1)."
        )
    if "transfer" in model.entry:
        raise ValueError(
            f"The model in adata.uns[{model_key!r}] was transferred from other data; its "
            "stability is measured on the data it was trained on."
        )
    _validate.check_fraction("threshold", threshold)
    _validate.check_fraction("min_stability", min_stability, closed=True)
    _validate.check_numbers(min_zscore=min_zscore)
    if min_votes is not None:
        warnings.warn(
            "min_votes has no effect since consensus labels go to the gene sets with a median "
            "z-score of at least min_zscore over the runs; it will be removed. Pass min_zscore "
            "to choose how strong a set must be.",
            FutureWarning,
            stacklevel=2,
        )
    data = _model_data(model)
    sets = None if gene_sets is None else as_dict(gene_sets, data.var_names)
    settings = {k: model.params[k] for k in _SETTINGS}
    batch = int(model.params["batch_size"])
    settings["batch_size"] = batch if batch > 0 else None
    if max_epochs is not None:
        _validate.check_integers(1, max_epochs=max_epochs)
        settings["max_epochs"] = int(max_epochs)
    if model.batch_categories:  # the runs see the same batches
        settings["batch_key"] = list(model.batch_categories)
    seeds = [int(s) for s in np.random.default_rng(random_state).integers(0, 2**31 - 1, n_runs)]

    vectors, labels = [program_vectors(model.entry)], []
    if sets is not None:
        labels.append(_labels(_with_model(data, model), sets, device))
    for seed in tqdm(seeds, desc="stability", disable=not progress):
        run = ortho_ae(
            data, **settings, random_state=seed, device=device, copy=True, progress=False
        )
        vectors.append(program_vectors(run.uns["ortho_ae"]))
        if sets is not None:
            labels.append(_labels(run, sets, device))
    if labels and any(run.names != labels[0].names for run in labels):
        raise RuntimeError("The runs were explained by different gene sets; this is a bug.")
    units, clusters, centres, sets_table = consensus(
        vectors, labels or None, threshold, min_stability, min_zscore, random_state
    )
    adata = adata.copy() if copy else adata
    result = {"units": units, "clusters": clusters, "programs": centres}
    if sets_table is not None:
        result["sets"] = sets_table
    adata.uns[model_key]["stability"] = {
        **result,
        "params": {
            "n_runs": int(n_runs),
            "threshold": float(threshold),
            "min_stability": float(min_stability),
            "min_zscore": float(min_zscore),
            "random_state": int(random_state),
            "seeds": np.asarray(seeds, dtype=np.int64),
            "labelled": sets is not None,
            "max_epochs": int(settings["max_epochs"]),
        },
    }
    return adata if copy else None


def _labels(run: AnnData, sets: dict, device: str) -> SetScores:
    """A run's gene-set z-scores per unit (whole-data saliency and impact) and its labels."""
    saliency(run, device=device, progress=False)
    geneset_impact(run, sets, device=device, progress=False)
    e = run.uns["geneset_impact"]
    units = e["units"]
    carried = frozenset(units.loc[units["status"] == CARRIES, "gene_set"].astype(str))
    return SetScores(
        list(e["zscore"].index),
        e["zscore"].to_numpy(),
        carried,
        e["zscore_trimmed"].to_numpy(),
    )


def _with_model(data: AnnData, model: StoredModel) -> AnnData:
    """``data`` holding the stored model, to be explained like a run."""
    out = data.copy()
    out.uns["ortho_ae"] = dict(model.entry)
    return out


def _model_data(model: StoredModel) -> AnnData:
    """The model's genes of its counts layer, as a small AnnData to train the runs on."""
    layer = model.layer
    x = _validate.get_matrix(model.adata, layer)
    genes = model.genes
    sub = x[:, genes]
    obs = pd.DataFrame({k: model.adata.obs[k].to_numpy() for k in model.batch_categories})
    obs.index = model.adata.obs_names.copy()
    return AnnData(sub, obs=obs, var=pd.DataFrame(index=model.var_names))
