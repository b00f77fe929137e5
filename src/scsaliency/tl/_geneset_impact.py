"""``tl.geneset_impact``: which gene sets each unit carries, overall and per group."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pandas as pd
import torch
from anndata import AnnData

from .._core import stats as _stats
from .._core.labels import label_units
from .._stored import StoredModel, saliency_frame
from .._utils import validate as _validate
from .._utils.docs import doc_params
from ..genesets import GeneSetsLike, MatchedGeneSets, as_dict, check_options, match
from ..nn.tensors import resolve_device
from ._saliency_pass import run_pass


@doc_params("batch_size", "device", "progress", "copy")
def geneset_impact(
    adata: AnnData,
    gene_sets: GeneSetsLike,
    *,
    saliency_key: str = "saliency",
    groupby: str | None = None,
    sample_key: str | None = None,
    min_size: int = 5,
    alpha: float = 0.05,
    n_null: int = 1000,
    n_bins: int = 25,
    random_state: int = 0,
    batch_size: int = 128,
    device: str | torch.device = "auto",
    key_added: str = "geneset_impact",
    copy: bool = False,
    progress: bool = True,
    **resource_kwargs,
) -> AnnData | None:
    """Impact of gene sets on representation units, with significance and group comparisons.

    The impact of set ``S`` on unit ``k`` is the mean saliency over the set's genes
    (Kinalis et al. 2019). Significance (beyond the paper): the impact is compared with
    ``n_null`` random sets drawn from the model's genes, matched gene by gene on mean
    expression as :func:`scanpy.tl.score_genes` picks control genes (``n_bins`` bins); this
    gives a z-score, an empirical one-sided p and a Benjamini-Hochberg adjusted p over all
    (set, unit) pairs. The p-value is one-sided (impact above the null) from the z-score under a
    normal approximation of the null, so it is not limited to the empirical p's resolution of
    ``1 / (n_null + 1)``; the empirical p is stored too.

    Parameters
    ----------
    adata
        AnnData with ``varm[saliency_key]`` from :func:`scsaliency.tl.saliency`.
    gene_sets
        A GMT path, a dict name -> genes, a DataFrame with ``source``/``target`` columns, or a
        resource name: ``"hallmark"`` (human or mouse, told from the gene symbols),
        ``"hallmark_human"``, ``"hallmark_mouse"``, ``"dmap"``. Symbols match
        case-insensitively.
    saliency_key
        ``key_added`` of the saliency.
    groupby
        ``obs`` column. Per-group impacts and the per-cell moments that
        :func:`scsaliency.get.impact_diff` needs are computed in one more streaming pass over
        the cells (cells are the replicates of the group test, unless ``sample_key`` is given).
    sample_key
        ``obs`` column naming the sample (donor, batch of origin) of each cell; needs
        ``groupby``. The per-cell impacts are then also averaged per (group, sample)
        (pseudobulk), and :func:`scsaliency.get.impact_diff` tests across samples instead of
        cells: cells of one sample are not independent replicates (Squair et al. 2021, Nat
        Commun 12:5692), and a cell-level test on them calls sample differences significant.
    min_size
        Sets with fewer genes among the model's genes are dropped, with a warning naming them.
    alpha
        A unit carries its best set (``"units"`` below) when that set's adjusted p is below
        ``alpha``, with and without the set's strongest gene.
    n_null
        Random sets per gene set; 0 skips the significance.
    n_bins
        Expression bins for matching random sets; lowered, with a warning, so that each bin
        holds at least 5 of the model's genes.
    random_state
        Seed of the random sets.
    {batch_size}
    {device}
    {progress}
    key_added
        Where results go (below).
    {copy}
    **resource_kwargs
        Passed to the resource, e.g. ``n_genes`` for ``"dmap"``; any other keyword is an error
        that names the parameter it was probably meant to be.

    Returns
    -------
    ``None``, or the copy. Stores ``adata.uns[key_added]`` with DataFrames (sets x units,
    units named ``"0"``, ``"1"``, ...):

    ``"impact"``
        Mean saliency over each set's genes.
    ``"scaled"``
        The paper's scaled impact: ``impact`` min-max scaled over the whole table to [0, 1].
    ``"zscore"``, ``"pval"``, ``"padj"``, ``"pval_emp"``
        Against expression-matched random sets (absent with ``n_null=0``): z-score, normal p,
        its Benjamini-Hochberg adjustment over all (set, unit) pairs, empirical p. NaN for
        inactive units (below), which are left out of the adjustment.
    ``"zscore_trimmed"``, ``"padj_trimmed"``
        The same test of the set's mean saliency without its strongest gene, against the
        random sets' means without theirs (absent with ``n_null=0``). A unit that follows one
        gene's noise gives any set holding that gene a large ``zscore``, but not a large
        ``zscore_trimmed``.
    ``"gene_sets"``
        Long table (``source``, ``target``) of the genes used per set; ``"set_table"``: per
        set, its size, its overlap with the model's genes and whether it was used.
    ``"inactive_units"``
        Units whose largest scaled impact is below 0.01 (dead units; the paper leaves them out
        of its plots).
    ``"units"``
        Which unit is which: one row per unit with its best set (highest z-score; without a
        null, highest impact standardised over units), that set's ``zscore``, ``padj`` and
        ``impact``, the ``second_set`` and ``margin`` to it, the ``share`` of the set's
        positive z-score that falls on this unit, ``owner`` (the set's best unit), ``status``
        and a plot ``label`` such as ``"13: MARKERS_NK"``. A unit carries its best set when
        both ``padj`` and ``padj_trimmed`` are below ``alpha``; the second test keeps units that
        follow one gene's noise from being named by any set holding that gene (:doc:`/method`).
        Other units are labelled ``"no significant set"``, dead units ``"inactive"``.
        :func:`scsaliency.get.units` returns it.
    ``"params"``
        ``saliency_key``, ``min_size``, ``alpha``, ``n_null``, ``random_state``, ``n_bins``
        (the bins used: at most one per 5 model genes), ``groupby`` if any.
    With ``groupby``: ``"groups"``, ``"group_n"`` (cells), ``"group_mean"`` and ``"group_var"``
    (groups x sets x units: mean and variance over the group's cells of the per-cell impact).
    With ``sample_key`` as well: ``"samples"`` (names), ``"sample_n"`` (groups x samples,
    cells) and ``"sample_mean"`` (groups x samples x sets x units, the pseudobulk impact; NaN
    where a sample has no cell of the group); ``params["sample_key"]``.
    """
    _validate.check_tool(
        adata, copy=copy, key_added=key_added, batch_size=batch_size, device=device
    )
    random_state = _validate.seed(random_state)
    _validate.check_integers(0, n_null=n_null)
    _validate.check_integers(1, min_size=min_size, n_bins=n_bins)
    _validate.check_numbers(alpha=alpha)
    known = tuple(inspect.signature(geneset_impact).parameters)
    check_options(gene_sets, resource_kwargs, caller="geneset_impact", known=known)
    _validate.check_fraction("alpha", alpha)
    if n_null == 1:
        raise ValueError("n_null must be 0 (no significance) or at least 2 (a null spread).")
    sal = saliency_frame(adata, saliency_key)
    sal_entry = adata.uns[saliency_key]
    sets = match(as_dict(gene_sets, sal.index, **resource_kwargs), sal.index, min_size=min_size)
    # everything a group pass needs is checked before any long computation
    codes, names = _validate.group_codes(adata, groupby)
    sample_codes, samples = _sample_codes(adata, sample_key, groupby)
    model = None if codes is None else StoredModel.load(adata, sal_entry["params"]["model_key"])

    weights = sets.membership / sets.membership.sum(0, keepdims=True)
    out = _whole_data(sal, sets, weights)
    out["params"] = {
        "saliency_key": saliency_key,
        "min_size": min_size,
        "alpha": alpha,
        "n_null": n_null,
        "random_state": random_state,
    }
    if n_null > 0:
        n_bins = _usable_bins(len(sal.index), n_bins)
        out["params"]["n_bins"] = n_bins
        out.update(
            _significance(
                sal,
                sets,
                out,
                np.asarray(sal_entry["input_mean"]),
                n_null=n_null,
                n_bins=n_bins,
                rng=np.random.default_rng(random_state),
                device=resolve_device(device),
            )
        )
    out["units"] = label_units(
        out["impact"],
        zscore=out.get("zscore"),
        padj=out.get("padj"),
        padj_trimmed=out.get("padj_trimmed"),
        inactive=list(out["inactive_units"]),
        alpha=alpha,
    )
    if model is not None:
        out["params"]["groupby"] = groupby
        out["groups"] = np.asarray(names, dtype=object)
        if sample_key is not None:
            out["params"]["sample_key"] = sample_key
            out["samples"] = np.asarray(samples, dtype=object)
        passed = dict(batch_size=batch_size, device=device, progress=progress)
        method, layer = sal_entry["params"]["method"], sal_entry["params"].get("layer")
        rows = _model_rows(model, sal.index, weights)
        out.update(
            _per_group(
                model, method, layer, rows, codes, len(names), sample_codes, len(samples), **passed
            )
        )
    adata = adata.copy() if copy else adata
    adata.uns[key_added] = out
    return adata if copy else None


def _whole_data(sal: pd.DataFrame, sets: MatchedGeneSets, weights: np.ndarray) -> dict:
    """The paper's impact: mean saliency over each set's genes, raw and min-max scaled."""
    impact = weights.T @ sal.to_numpy(dtype=np.float64)
    scaled = _stats.minmax(impact)
    units = list(sal.columns)
    return {
        "impact": pd.DataFrame(impact, index=sets.names, columns=units),
        "scaled": pd.DataFrame(scaled, index=sets.names, columns=units),
        "gene_sets": sets.long(),
        "set_table": sets.table,
        "inactive_units": np.asarray(
            [u for u, m in zip(units, scaled.max(0), strict=True) if m < 0.01], dtype=object
        ),
    }


#: Fewest genes per expression bin: a random set draws each gene from its member's bin, and a
#: bin of one gene would draw the member itself, so the null would be the set (z near +-1).
MIN_GENES_PER_BIN = 5


def _usable_bins(n_genes: int, n_bins: int) -> int:
    """``n_bins``, lowered (with a warning) so that every bin holds ``MIN_GENES_PER_BIN``."""
    usable = max(1, min(n_bins, n_genes // MIN_GENES_PER_BIN))
    if usable < n_bins:
        warnings.warn(
            f"The model has {n_genes} genes: {n_bins} expression bins would hold fewer than "
            f"{MIN_GENES_PER_BIN} genes each, so random sets are matched in {usable} bin(s). "
            "With this few genes the null is weak; train on more genes for z-scores to trust.",
            stacklevel=3,
        )
    return usable


def _significance(
    sal: pd.DataFrame,
    sets: MatchedGeneSets,
    out: dict,
    input_mean: np.ndarray,
    *,
    n_null: int,
    n_bins: int,
    rng: np.random.Generator,
    device: torch.device,
) -> dict:
    """Test each (set, unit) impact against expression-matched random sets.

    With and without the set's strongest gene; BH-adjusted over the active units. On an
    CUDA device the random sets are averaged there (same draws, float64).
    """
    values = sal.to_numpy(dtype=np.float64)
    on_device = torch.as_tensor(values, device=device) if device.type == "cuda" else None
    impact = out["impact"].to_numpy()
    bins = _stats.expression_bins(input_mean, n_bins)
    z, p, p_emp, z_trim, p_trim = (np.empty_like(impact) for _ in range(5))
    for j in range(len(sets.names)):
        members = np.flatnonzero(sets.membership[:, j])
        null, null_trim = _stats.null_impacts(
            values, members, bins, n_null, rng, on_device=on_device
        )
        z[j], p[j], p_emp[j] = _stats.empirical(impact[j], null)
        observed_trim = _stats.trimmed_mean(values[members])
        z_trim[j], p_trim[j], _ = _stats.empirical(observed_trim, null_trim)
    # Dead units have near-zero saliency everywhere; a tiny null spread would make any
    # trace look significant, so they get no statistics and stay out of the BH family.
    dead = np.isin(out["impact"].columns, out["inactive_units"])
    for a in (z, p, p_emp, z_trim, p_trim):
        a[:, dead] = np.nan
    frame = lambda a: pd.DataFrame(a, index=sets.names, columns=out["impact"].columns)  # noqa: E731
    return {
        "zscore": frame(z),
        "pval": frame(p),
        "padj": frame(_stats.bh_adjust(p)),
        "pval_emp": frame(p_emp),
        "zscore_trimmed": frame(z_trim),
        "padj_trimmed": frame(_stats.bh_adjust(p_trim)),
    }


def _per_group(
    model: StoredModel,
    method: str,
    layer: str | None,
    rows: np.ndarray,
    codes: np.ndarray,
    n_groups: int,
    sample_codes: np.ndarray | None,
    n_samples: int,
    **passed,
) -> dict:
    """Per-cell impacts summed per group (and per sample) in one streaming pass.

    Returns the group sizes, means and variances over cells, and with samples the pseudobulk
    mean per (group, sample).
    """
    n_slots = n_samples + 1
    if sample_codes is not None:
        # One streaming pass over (group, sample) cells; slot n_samples holds the cells of a
        # group with no sample label, which count for the group but no sample.
        slot = np.where(sample_codes < 0, n_samples, sample_codes)
        pass_codes = np.where(codes < 0, -1, codes * n_slots + slot)
        n_pass = n_groups * n_slots
    else:
        pass_codes, n_pass = codes, n_groups
    sums = run_pass(
        model,
        method,
        layer=layer,
        codes=pass_codes,
        n_groups=n_pass,
        projection=rows,
        keep_gene_maps=False,
        **passed,
    )
    group_n, proj_sum, proj_sumsq = sums.group_n, sums.proj_sum, sums.proj_sumsq
    out = {}
    if sample_codes is not None:
        by_sample = proj_sum.reshape(n_groups, n_slots, *proj_sum.shape[1:])
        cells = group_n.reshape(n_groups, n_slots)
        with np.errstate(invalid="ignore", divide="ignore"):
            pseudo = by_sample[:, :-1] / cells[:, :-1, None, None]
        out["sample_n"] = cells[:, :-1].astype(np.int64)
        out["sample_mean"] = pseudo.transpose(0, 1, 3, 2).astype(np.float64)
        group_n, proj_sum = cells.sum(1), by_sample.sum(1)
        proj_sumsq = proj_sumsq.reshape(by_sample.shape).sum(1)
    n = group_n.astype(np.float64)[:, None, None]
    mean = proj_sum / np.maximum(n, 1)
    var = (proj_sumsq - n * mean**2) / np.maximum(n - 1, 1)
    out["group_n"] = group_n.astype(np.int64)
    out["group_mean"] = mean.transpose(0, 2, 1).astype(np.float64)  # groups x sets x units
    out["group_var"] = np.maximum(var, 0).transpose(0, 2, 1).astype(np.float64)
    return out


def _model_rows(model: StoredModel, genes: pd.Index, weights: np.ndarray) -> np.ndarray:
    """Set weights (saliency genes x sets) laid out on the model's input genes.

    Rows are zero for the genes of a transferred model that ``adata`` lacks (no saliency map).
    """
    names = pd.Index(model.var_names)
    out = np.zeros((len(names), weights.shape[1]), dtype=np.float32)
    out[names.get_indexer(genes)] = weights
    return out


def _sample_codes(
    adata: AnnData, sample_key: str | None, groupby: str | None
) -> tuple[np.ndarray | None, list[str]]:
    """Integer sample per cell (-1 for a missing label) and the sample names."""
    if sample_key is None:
        return None, []
    if groupby is None:
        raise ValueError(
            "sample_key needs groupby: samples are the replicates of a comparison between "
            "groups. Pass groupby= as well."
        )
    if sample_key == groupby:
        raise ValueError(
            f"sample_key and groupby are both {groupby!r}; the samples must be another obs "
            "column (e.g. the donor), with cells of several samples in each group."
        )
    labels = _validate.check_obs_key(adata, sample_key, what="sample_key")
    labels = labels.cat.remove_unused_categories()
    if len(labels.cat.categories) < 2:
        raise ValueError(
            f"obs[{sample_key!r}] names {len(labels.cat.categories)} sample(s); a test across "
            "samples needs at least two. Leave sample_key out for the cell-level test."
        )
    return labels.cat.codes.to_numpy().astype(np.int64), [str(c) for c in labels.cat.categories]
