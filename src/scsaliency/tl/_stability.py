"""``tl.stability``: how far each unit of a model comes back when training is repeated."""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
from anndata import AnnData
from sklearn.cluster import KMeans
from tqdm.auto import tqdm

from .. import _validate
from .._docs import doc_params
from .._labels import CARRIES, significant
from .._matching import program_vectors, unit_rows
from .._stored import StoredModel
from ..genesets import GeneSetsLike, as_dict
from ._geneset_impact import geneset_impact
from ._ortho_ae import ortho_ae
from ._saliency import saliency

#: Adjusted p below which a run's unit carries a set (as ``tl.geneset_impact``'s default).
ALPHA = 0.05

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
    min_votes: float = 0.5,
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
    :func:`scsaliency.tl.geneset_impact` on the whole data) and a cluster's label is the set
    with the highest median z-score over its consensus programs' units, kept when it is
    significant on the cluster's unit in at least ``min_votes`` of all runs: the consensus
    label. A single run's labels change with the seed for about half of its units; consensus
    labels over 6 runs reproduce far better (:doc:`/benchmarks`).

    :func:`scsaliency.get.units` then shows each unit's ``stability`` and ``consensus_set``;
    units below ``min_stability`` get the status ``"unstable"``, and with ``gene_sets`` a unit
    carries its consensus set (greyed labels in the plots for unstable units).
    :func:`scsaliency.get.geneset_stability` shows, per gene set, the share of runs in which
    some unit carries it: a set carried in every run is a finding that does not depend on the
    seed, whichever unit carries it; one carried in half of the runs or fewer is not (measured
    on PBMC 3k, Paul15 and Kang 2018, :doc:`/benchmarks`).

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
        impact); 5 gives stability in steps of 1/6. Raise it when the gene sets are the
        finding: the sets carried in more than half of the runs reproduce between two answers
        at a Jaccard of about 0.87 with 5 on PBMC 3k but 0.63-0.68 on Paul15 and Kang 2018,
        and 0.68-0.86 there with 23 (:doc:`/benchmarks`).
    threshold
        Cosine above which a run's program counts as the same program: to the unit's program
        for the unit's stability, to the cluster's median for the consensus program.
    min_stability
        Units whose stability is below this get the status ``"unstable"``.
    min_votes
        Share of all runs (the model included) in which the cluster's best set must be
        significant for it to be the consensus label.
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
    runs' programs in the unit's cluster to the unit's program, and with ``gene_sets``
    ``consensus_set``, empty where no set has the votes, and ``votes``, its share of runs),
    ``"clusters"`` (the consensus programs, one row per cluster: ``runs``, the share of runs
    with a program in it within ``threshold`` of its median; ``unit``, the model's unit among
    those or -1; with ``gene_sets`` ``consensus_set`` and ``votes``), with ``gene_sets``
    ``"sets"`` (DataFrame indexed by gene set: ``runs``, the share of runs, the model included,
    in which some unit carries the set as a single run's labels go; ``median_zscore``, the
    median over runs of the set's largest z-score over the run's units; ``consensus_programs``, how
    many clusters have it as their consensus set; ``in_model``, whether the model's own units
    carry it), ``"programs"`` (clusters
    x model genes: each cluster's consensus program, the square root of expected counts with
    rows of length 1) and ``"params"`` (``n_runs``, ``threshold``, ``max_epochs`` (of each
    run), ``min_stability``, ``min_votes``, ``random_state``, ``seeds``, ``labelled``).
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
    if "transfer" in model.entry:
        raise ValueError(
            f"The model in adata.uns[{model_key!r}] was transferred from other data; its "
            "stability is measured on the data it was trained on."
        )
    _validate.check_fraction("threshold", threshold)
    _validate.check_fraction("min_stability", min_stability, closed=True)
    _validate.check_fraction("min_votes", min_votes, closed=True)
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
    units, clusters, centres = _consensus(
        vectors, labels or None, threshold, min_votes, random_state
    )
    adata = adata.copy() if copy else adata
    result = {"units": units, "clusters": clusters, "programs": centres}
    if labels:
        result["sets"] = _set_table(labels, clusters)
    adata.uns[model_key]["stability"] = {
        **result,
        "params": {
            "n_runs": int(n_runs),
            "threshold": float(threshold),
            "min_stability": float(min_stability),
            "min_votes": float(min_votes),
            "random_state": int(random_state),
            "seeds": np.asarray(seeds, dtype=np.int64),
            "labelled": sets is not None,
            "max_epochs": int(settings["max_epochs"]),
        },
    }
    return adata if copy else None


def _median_direction(programs: np.ndarray) -> np.ndarray:
    """The median of programs (rows), scaled to length 1."""
    return unit_rows(np.median(programs, axis=0)[None])[0]


def _consensus(
    vectors: list[np.ndarray],
    labels: list[SetScores] | None,
    threshold: float,
    min_votes: float,
    random_state: int,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Cluster the pooled programs; per cluster and per unit of the first model, the consensus.

    Returns the per-unit table (stability, cosine and, with labels, consensus set and votes)
    and the per-cluster table (``runs``: share of runs with a program in it close to its median,
    ``unit``: the first model's unit among those or -1, and with labels ``consensus_set`` and
    ``votes``), and the clusters' consensus programs (the median of those programs, rows of
    length 1).
    """
    n_runs, n_units = len(vectors), len(vectors[0])
    pooled = np.concatenate(vectors)
    run_of = np.repeat(np.arange(n_runs), n_units)
    unit_of = np.tile(np.arange(n_units), n_runs)
    cluster = KMeans(n_units, n_init=4, random_state=random_state).fit_predict(pooled)
    clusters = []
    centres = np.zeros((n_units, pooled.shape[1]), dtype=np.float32)
    for c in range(n_units):
        members = np.flatnonzero(cluster == c)
        if len(members):
            centres[c] = _median_direction(pooled[members])
            # KMeans also lumps programs that no run repeats into a cluster; only those close
            # to its median make the consensus (its program, share of runs and label)
            close = members[pooled[members] @ centres[c] > threshold]
            if len(close):
                members = close
                centres[c] = _median_direction(pooled[members])
            else:
                members = members[:0]
        own = members[run_of[members] == 0]
        row = {"runs": len(set(run_of[members].tolist())) / n_runs}
        row["unit"] = int(unit_of[own[0]]) if len(own) else -1
        if labels is not None:
            row["consensus_set"], row["votes"] = _vote(
                [labels[run_of[m]] for m in members],
                unit_of[members],
                run_of[members],
                n_runs,
                min_votes,
            )
        clusters.append(row)
    units = []
    for u in range(n_units):
        members = np.flatnonzero((cluster == cluster[u]) & (run_of > 0))
        cos = pooled[members] @ vectors[0][u]
        came_back = {int(run_of[m]) for m, c in zip(members, cos, strict=True) if c > threshold}
        row = {
            "stability": (1 + len(came_back)) / n_runs,
            "cosine": float(cos.mean()) if len(cos) else np.nan,
        }
        if labels is not None:
            # only a unit among its cluster's consensus programs takes the cluster's label: one
            # that KMeans merely lumped in (no run repeats it) would be named by other programs
            member = float(vectors[0][u] @ centres[cluster[u]]) > threshold
            row["consensus_set"] = clusters[cluster[u]]["consensus_set"] if member else ""
            row["votes"] = clusters[cluster[u]]["votes"] if member else 0.0
        units.append(row)
    return (
        pd.DataFrame(units, index=[str(u) for u in range(n_units)]),
        pd.DataFrame(clusters, index=[str(c) for c in range(n_units)]),
        centres,
    )


class SetScores(NamedTuple):
    """One run's gene-set z-scores (sets x units), where they are significant, and its labels.

    ``carried``: the sets that the run's own units carry (each unit's best set when
    significant, as :func:`scsaliency.get.units` labels a single run).
    """

    names: list[str]
    zscore: np.ndarray
    significant: np.ndarray
    carried: frozenset[str] = frozenset()


def _set_table(labels: list[SetScores], clusters: pd.DataFrame) -> pd.DataFrame:
    """Per gene set: the share of runs whose units carry it, its median best z, the consensus.

    A set that some unit carries in every run is a robust finding whichever unit carries it;
    one carried in a few runs was carried by chance of the seed. ``median_zscore`` is the
    median over runs of the set's largest z-score over the run's units (NaN where a run has
    none): a graded strength that does not ask which set wins each unit.
    """
    names = labels[0].names
    runs = [sum(name in run.carried for run in labels) / len(labels) for name in names]
    best = np.full((len(labels), len(names)), np.nan)
    for i, run in enumerate(labels):
        z = np.asarray(run.zscore, dtype=np.float64)
        finite = np.isfinite(z).any(axis=1)
        best[i, finite] = np.nanmax(z[finite], axis=1)
    with warnings.catch_warnings():  # a set without z-scores in any run: NaN, said by the NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(best, axis=0)
    per_set = clusters["consensus_set"].value_counts()
    return pd.DataFrame(
        {
            "runs": np.asarray(runs, dtype=np.float64),
            "median_zscore": median.astype(np.float64),
            "consensus_programs": per_set.reindex(names).fillna(0).to_numpy(dtype=np.int64),
            "in_model": np.asarray([name in labels[0].carried for name in names]),
        },
        index=pd.Index(names, dtype=object),
    )


def _vote(
    scores: list[SetScores], units: np.ndarray, runs: np.ndarray, n_runs: int, min_votes: float
) -> tuple[str, float]:
    """A cluster's consensus set: the highest median z-score over its programs.

    The median of the z-score profiles of the runs' units, rather than a count of their winners,
    keeps near-ties between overlapping sets (allograft rejection, interferon gamma, complement)
    from flipping the label, and one run's outlying score from deciding it; inactive units (no
    z-scores) do not vote. The set is kept when it is significant on the cluster's unit in at
    least ``min_votes`` of all runs; returns it (or ``""``) and that share.
    """
    if not len(units):
        return "", 0.0
    pairs = list(zip(scores, units.tolist(), strict=True))
    z = np.stack([s.zscore[:, u] for s, u in pairs])
    z = z[np.isfinite(z).any(axis=1)]  # inactive units have no z-scores: they do not vote
    if not len(z):
        return "", 0.0
    best = int(np.argmax(np.nanmedian(z, axis=0)))
    carried = {
        int(r) for (s, u), r in zip(pairs, runs.tolist(), strict=True) if s.significant[best, u]
    }
    share = len(carried) / n_runs
    return (scores[0].names[best] if share >= min_votes else ""), share


def _labels(run: AnnData, sets: dict, device: str) -> SetScores:
    """A run's gene-set z-scores per unit (whole-data saliency and impact), and significance."""
    saliency(run, device=device, progress=False)
    geneset_impact(run, sets, device=device, progress=False)
    e = run.uns["geneset_impact"]
    sig = significant(e["padj"].to_numpy(), e["padj_trimmed"].to_numpy(), ALPHA)
    units = e["units"]
    carried = frozenset(units.loc[units["status"] == CARRIES, "gene_set"].astype(str))
    return SetScores(list(e["zscore"].index), e["zscore"].to_numpy(), np.asarray(sig), carried)


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
