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
from .._results import ROBUST_ZSCORE
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
    labels, one program per set, and a program may carry several sets. A single run's labels
    change with the seed for about half of its units; these consensus labels over 6 runs
    reproduce far better (carried sets at a Jaccard of 0.78-0.91 between answers with disjoint
    seeds on PBMC 3k, Paul15 and Kang 2018 over 8 splits of 12 runs, where a vote per cluster gave
    0.58-0.83, :doc:`/benchmarks`).

    :func:`scsaliency.get.units` then shows each unit's ``stability``, ``consensus_set`` and
    ``consensus_sets``;
    units below ``min_stability`` get the status ``"unstable"``, and with ``gene_sets`` a unit
    carries its consensus set (greyed labels in the plots for unstable units).
    :func:`scsaliency.get.geneset_stability` shows, per gene set, the share of runs in which
    some unit carries it, its median z-score and the program that carries it: a set carried in
    every run is a finding that does not depend on the seed, whichever unit carries it; one
    carried in half of the runs or fewer is not (measured on PBMC 3k, Paul15 and Kang 2018,
    :doc:`/benchmarks`).

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
        impact); 5 gives stability in steps of 1/6. With 5, two answers with disjoint seeds
        carried the same consensus sets at a Jaccard of 0.78-0.91 on PBMC 3k, Paul15 and Kang
        2018, with 2 (3 runs) at 0.66-0.79 (:doc:`/benchmarks`); raise it when the gene sets are the
        finding and the time allows.
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
    strongest gene; ``consensus_program``, the cluster that carries it or
    -1; ``consensus_unit``, the model's unit in that cluster or -1; ``in_model``, whether the
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
    units, clusters, centres, sets_table = _consensus(
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


def _median_direction(programs: np.ndarray) -> np.ndarray:
    """The median of programs (rows), scaled to length 1."""
    return unit_rows(np.median(programs, axis=0)[None])[0]


def _consensus(
    vectors: list[np.ndarray],
    labels: list[SetScores] | None,
    threshold: float,
    min_stability: float,
    min_zscore: float,
    random_state: int,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, pd.DataFrame | None]:
    """Cluster the pooled programs; per cluster and per unit of the first model, the consensus.

    Returns the per-unit table (stability, cosine and, with labels, consensus sets), the
    per-cluster table (``runs``: share of runs with a program in it close to its median,
    ``unit``: the first model's unit among those or -1, and with labels ``consensus_set``,
    ``consensus_sets`` and ``consensus_zscore``), the clusters' consensus programs (the median
    of those programs, rows of length 1) and, with labels, the per-set table.
    """
    n_runs, n_units = len(vectors), len(vectors[0])
    pooled = np.concatenate(vectors)
    run_of = np.repeat(np.arange(n_runs), n_units)
    unit_of = np.tile(np.arange(n_units), n_runs)
    cluster = KMeans(n_units, n_init=4, random_state=random_state).fit_predict(pooled)
    clusters = []
    centres = np.zeros((n_units, pooled.shape[1]), dtype=np.float32)
    profiles = []
    for c in range(n_units):
        members = np.flatnonzero(cluster == c)
        if len(members):
            centres[c] = _median_direction(pooled[members])
            # KMeans also lumps programs that no run repeats into a cluster; only those close
            # to its median make the consensus (its program, share of runs and labels)
            close = members[pooled[members] @ centres[c] > threshold]
            if len(close):
                members = close
                centres[c] = _median_direction(pooled[members])
            else:
                members = members[:0]
        own = members[run_of[members] == 0]
        row = {"runs": len(set(run_of[members].tolist())) / n_runs}
        row["unit"] = int(unit_of[own[0]]) if len(own) else -1
        clusters.append(row)
        if labels is not None:
            profiles.append(
                _median_profile(
                    [labels[r] for r in run_of[members]], unit_of[members], len(labels[0].names)
                )
            )
    clusters = pd.DataFrame(clusters, index=[str(c) for c in range(n_units)])
    sets = None
    if labels is not None:
        sets = _set_table(labels)
        owner = _owners(
            np.stack(profiles),
            eligible=clusters["runs"].to_numpy() >= min_stability,
            strong=_strong(sets, min_zscore),
            every=sets["runs"].to_numpy() == 1.0,
        )
        _name_clusters(clusters, sets, np.stack(profiles), owner)
        order = ["runs", "median_zscore", "median_zscore_trimmed", "consensus_program"]
        sets = sets[[c for c in order if c in sets] + ["consensus_unit", "in_model"]]
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
            # only a unit among its cluster's consensus programs takes the cluster's sets: one
            # that KMeans merely lumped in (no run repeats it) would be named by other programs
            member = float(vectors[0][u] @ centres[cluster[u]]) > threshold
            named = clusters.iloc[cluster[u]]
            for col in ("consensus_set", "consensus_sets"):
                row[col] = named[col] if member else ""
            row["consensus_zscore"] = named["consensus_zscore"] if member else np.nan
        units.append(row)
    units = pd.DataFrame(units, index=[str(u) for u in range(n_units)])
    return units, clusters, centres, sets


class SetScores(NamedTuple):
    """One run's gene-set z-scores (sets x units), where they are significant, and its labels.

    ``carried``: the sets that the run's own units carry (each unit's best set when
    significant, as :func:`scsaliency.get.units` labels a single run); ``zscore_trimmed``: the
    z-scores without each set's strongest gene (``None``: not measured).
    """

    names: list[str]
    zscore: np.ndarray
    significant: np.ndarray
    carried: frozenset[str] = frozenset()
    zscore_trimmed: np.ndarray | None = None


def _set_table(labels: list[SetScores]) -> pd.DataFrame:
    """Per gene set: the share of runs whose units carry it, and its median best z-scores.

    A set that some unit carries in every run is a robust finding whichever unit carries it;
    one carried in a few runs was carried by chance of the seed. ``median_zscore`` is the
    median over runs of the set's largest z-score over the run's units (NaN where a run has
    none): a graded strength that does not ask which set wins each unit;
    ``median_zscore_trimmed`` the same without each set's strongest gene.
    """
    names = labels[0].names
    runs = [sum(name in run.carried for run in labels) / len(labels) for name in names]
    table = {"runs": np.asarray(runs, dtype=np.float64)}
    table["median_zscore"] = _median_best([run.zscore for run in labels])
    if all(run.zscore_trimmed is not None for run in labels):
        table["median_zscore_trimmed"] = _median_best([run.zscore_trimmed for run in labels])
    table["in_model"] = np.asarray([name in labels[0].carried for name in names])
    return pd.DataFrame(table, index=pd.Index(names, dtype=object))


def _median_best(zscores: list[np.ndarray]) -> np.ndarray:
    """Per set (rows), the median over runs of its largest z-score over units (columns)."""
    best = np.full((len(zscores), len(zscores[0])), np.nan)
    for i, z in enumerate(zscores):
        z = np.asarray(z, dtype=np.float64)
        finite = np.isfinite(z).any(axis=1)
        best[i, finite] = np.nanmax(z[finite], axis=1)
    with warnings.catch_warnings():  # a set without z-scores in any run: NaN, said by the NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(best, axis=0).astype(np.float64)


def _median_profile(scores: list[SetScores], units: np.ndarray, n_sets: int) -> np.ndarray:
    """Per set, the median z-score over a cluster's programs (NaN for a cluster without any).

    The median rather than a count of winners keeps near-ties between overlapping sets
    (allograft rejection, interferon gamma, complement) and one run's outlying score from
    deciding; inactive units (no z-scores) do not count.
    """
    if not scores:
        return np.full(n_sets, np.nan)
    z = np.stack([s.zscore[:, u] for s, u in zip(scores, units.tolist(), strict=True)])
    z = z[np.isfinite(z).any(axis=1)]
    if not len(z):
        return np.full(n_sets, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(z, axis=0)


#: Median over runs of a set's largest z-score without its strongest gene, below which the set is
#: held up by one gene: a unit that follows one gene's noise gives any set holding that gene a
#: large z-score (random decoy sets reached a median z of 5 that way on synthetic data, their
#: z-scores without that gene near 0). Real sets of PBMC 3k, Paul15 and Kang 2018 pass it.
TRIMMED_ZSCORE = 3.0


def _strong(sets: pd.DataFrame, min_zscore: float) -> np.ndarray:
    """The sets the runs found: carried in every run, or strong in the median run.

    Strong: a median best z-score of at least ``min_zscore``, and of at least
    ``TRIMMED_ZSCORE`` without the set's strongest gene.
    """
    strong = sets["median_zscore"].to_numpy() >= min_zscore
    if "median_zscore_trimmed" in sets:
        strong &= sets["median_zscore_trimmed"].to_numpy() >= TRIMMED_ZSCORE
    return strong | (sets["runs"].to_numpy() == 1.0)


#: Median z-score of a set over a consensus program's programs below which the program does not
#: carry it, even where it scores highest (a label needs the set significant on its program; on
#: synthetic data one random decoy set of two that the runs found was left out by it).
OWNER_ZSCORE = 3.0


def _owners(
    profiles: np.ndarray, eligible: np.ndarray, strong: np.ndarray, every: np.ndarray
) -> np.ndarray:
    """Per set, the cluster that carries it (-1 for none).

    A strong set goes to the eligible cluster (a consensus program in at least
    ``min_stability`` of the runs) on which its median z-score is highest, when that median is
    at least ``OWNER_ZSCORE`` or the set is carried in ``every`` run (significant on some unit
    of each); other sets go nowhere.
    """
    scores = np.where(eligible[:, None] & np.isfinite(profiles), profiles, -np.inf)
    owner = np.argmax(scores, axis=0)
    best = scores[owner, np.arange(scores.shape[1])]
    found = (best >= OWNER_ZSCORE) | (every & np.isfinite(best))
    return np.where(strong & found, owner, -1)


def _name_clusters(
    clusters: pd.DataFrame, sets: pd.DataFrame, profiles: np.ndarray, owner: np.ndarray
) -> None:
    """Write the sets each cluster carries into ``clusters`` and ``sets`` (in place)."""
    names = np.asarray(sets.index, dtype=object)
    first, every, zscore = [], [], []
    for c in range(len(clusters)):
        mine = np.flatnonzero(owner == c)
        mine = mine[np.argsort(-profiles[c, mine], kind="stable")]
        first.append(names[mine[0]] if len(mine) else "")
        every.append("; ".join(names[mine]))
        zscore.append(float(profiles[c, mine[0]]) if len(mine) else np.nan)
    clusters["consensus_set"] = first
    clusters["consensus_sets"] = every
    clusters["consensus_zscore"] = np.asarray(zscore, dtype=np.float64)
    sets["consensus_program"] = owner.astype(np.int64)
    sets["consensus_unit"] = np.asarray(
        [int(clusters["unit"].iloc[c]) if c >= 0 else -1 for c in owner], dtype=np.int64
    )


def _labels(run: AnnData, sets: dict, device: str) -> SetScores:
    """A run's gene-set z-scores per unit (whole-data saliency and impact), and significance."""
    saliency(run, device=device, progress=False)
    geneset_impact(run, sets, device=device, progress=False)
    e = run.uns["geneset_impact"]
    sig = significant(e["padj"].to_numpy(), e["padj_trimmed"].to_numpy(), ALPHA)
    units = e["units"]
    carried = frozenset(units.loc[units["status"] == CARRIES, "gene_set"].astype(str))
    return SetScores(
        list(e["zscore"].index),
        e["zscore"].to_numpy(),
        np.asarray(sig),
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
