"""Synthetic counts with planted gene programs: data with known ground truth."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData


def synthetic(
    n_cells: int = 600,
    n_genes: int = 400,
    *,
    n_groups: int = 4,
    n_programs: int | None = None,
    program_size: int = 20,
    n_decoys: int = 4,
    fold_change: float = 4.0,
    dispersion: float = 0.3,
    mean_library_size: float = 1500.0,
    activity: Literal["group", "independent"] = "group",
    active_fraction: float = 0.3,
    n_samples: int = 1,
    sample_effect: float = 0.0,
    library_effect: float = 0.0,
    random_state: int = 0,
) -> AnnData:
    """Negative-binomial counts in which known gene programs are active in known cells.

    Baseline gene means are log-normal (a few genes highly expressed, most low) and library
    sizes vary log-normally between cells, so the counts look like UMI data. Program ``p`` is a
    set of ``program_size`` genes whose mean is multiplied by ``1 + (fold_change - 1) * a``,
    ``a`` the program's activity in the cell:

    * ``activity="group"``: ``a ~ U(0.5, 1)`` in the cells of group ``p % n_groups``, 0
      elsewhere (programs mark groups);
    * ``activity="independent"``: every program is active in a random ``active_fraction`` of
      the cells, drawn independently of the other programs and of the groups, with
      ``a ~ U(0.5, 1)`` where active. Programs overlap in cells, and a program can only be
      told apart from the others by its own genes: the test of a one-program-per-unit model.

    Decoy sets are gene sets of the same size with no planted activity. Programs and decoys use
    disjoint genes.

    With ``n_samples > 1``, cells are spread at random over samples (donors), and each sample
    multiplies every gene's mean by its own log-normal factor (``sample_effect`` its log-scale
    standard deviation): the between-donor variation that makes cells of one sample
    pseudoreplicates.

    Parameters
    ----------
    n_cells, n_genes
        Size of the count matrix.
    n_groups
        Number of cell groups, ``obs["group"]`` (``"g0"``, ``"g1"``, ...).
    n_programs
        Planted programs; default one per group. ``0`` gives data with no program (a null).
    program_size
        Genes per program and per decoy set.
    n_decoys
        Gene sets without planted activity, for checking false positives.
    fold_change
        Multiplicative effect of a fully active program on its genes' means, in [1, 100].
    activity
        How programs are placed in cells, above.
    active_fraction
        Share of cells in which each program is active, with ``activity="independent"``.
    n_samples
        Number of samples, ``obs["sample"]`` (``"s0"``, ``"s1"``, ...) when above 1.
    sample_effect
        Log-scale standard deviation of the per-sample, per-gene factor on the means: a batch
        effect (capture efficiency per gene, as between technologies or runs) when the samples
        are used as batches (``tl.ortho_ae(batch_key="sample")``); the programs are shared.
    library_effect
        Log-scale standard deviation of a per-sample factor on every cell's library size
        (sequencing depth per batch).
    dispersion
        Negative-binomial dispersion (variance = mean + dispersion * mean^2), in (0, 100].
    mean_library_size
        Mean total count per cell (before programs), in [1, 1e6], which keeps every count
        within int32.
    random_state
        Seed; the same seed gives the same data.

    Returns
    -------
    AnnData with integer counts (CSR) in ``X``, ``obs["group"]``, ``obs["sample"]`` (with
    ``n_samples > 1``), ``obs["<program>_activity"]``
    per program (the true activity ``a``), and ``uns["synthetic"]``: ``"programs"``
    (DataFrame: program, group (``"none"`` for independent programs), fold_change) and
    ``"gene_sets"`` (long DataFrame ``source``/``target`` of programs and
    decoys, usable directly as gene sets) and, with ``n_samples > 1``, ``"sample_factors"``
    (DataFrame samples x genes: the factor each sample puts on each gene's mean, its capture
    factor times its depth factor; what :func:`scsaliency.get.batch_effects` estimates, up to
    a factor common to the sample's genes, which the size factors take).
    """
    _check_synthetic_args(
        activity=activity,
        active_fraction=active_fraction,
        random_state=random_state,
        n_cells=n_cells,
        n_genes=n_genes,
        n_groups=n_groups,
        n_programs=n_programs,
        program_size=program_size,
        n_decoys=n_decoys,
        n_samples=n_samples,
        fold_change=fold_change,
        dispersion=dispersion,
        mean_library_size=mean_library_size,
        sample_effect=sample_effect,
        library_effect=library_effect,
    )
    n_cells, n_genes, n_groups, program_size = map(int, (n_cells, n_genes, n_groups, program_size))
    n_decoys, n_samples = int(n_decoys), int(n_samples)
    n_programs = n_groups if n_programs is None else n_programs
    needed = (n_programs + n_decoys) * program_size
    if needed > n_genes:
        raise ValueError(f"{needed} genes needed for programs and decoys, but n_genes={n_genes}.")
    rng = np.random.default_rng(random_state)
    group = rng.integers(0, n_groups, n_cells)
    base = rng.lognormal(mean=0.0, sigma=1.2, size=n_genes)
    base /= base.sum()
    lib = rng.lognormal(np.log(mean_library_size) - 0.125, 0.5, n_cells)
    mu = np.outer(lib, base)

    names = [f"gene{i}" for i in range(n_genes)]
    obs = pd.DataFrame(
        {
            "group": pd.Categorical(
                [f"g{g}" for g in group], categories=[f"g{g}" for g in range(n_groups)]
            )
        },
        index=[f"cell{i}" for i in range(n_cells)],
    )
    sets, programs = _plant_programs(
        mu,
        obs,
        group,
        rng,
        names=names,
        n_programs=n_programs,
        n_decoys=n_decoys,
        program_size=program_size,
        fold_change=fold_change,
        activity=activity,
        active_fraction=active_fraction,
        n_groups=n_groups,
    )
    factor = None
    if n_samples > 1:
        sample = rng.integers(0, n_samples, n_cells)
        factor = rng.lognormal(-(sample_effect**2) / 2, sample_effect, (n_samples, n_genes))
        mu *= factor[sample]
        if library_effect > 0:
            depth = rng.lognormal(-(library_effect**2) / 2, library_effect, n_samples)
            mu *= depth[sample][:, None]
            factor = factor * depth[:, None]
        obs["sample"] = pd.Categorical(
            [f"s{s}" for s in sample], categories=[f"s{s}" for s in range(n_samples)]
        )

    # Gamma-Poisson mixture = negative binomial with the given dispersion.
    rate = rng.gamma(shape=1.0 / dispersion, scale=mu * dispersion)
    counts = rng.poisson(rate).astype(np.int32)
    adata = AnnData(sp.csr_matrix(counts), obs=obs, var=pd.DataFrame(index=names))
    adata.uns["synthetic"] = {
        "programs": pd.DataFrame(programs, columns=["program", "group", "fold_change"]),
        "gene_sets": pd.DataFrame(sets, columns=["source", "target"]),
        "random_state": random_state,
        "activity": activity,
    }
    if factor is not None:  # the truth that a batch model's factors should find
        adata.uns["synthetic"]["sample_factors"] = pd.DataFrame(
            factor, index=obs["sample"].cat.categories.copy(), columns=names
        )
    return adata


def _check_synthetic_args(*, activity, active_fraction, random_state, **values) -> None:
    """Every argument checked, each named in its message (before anything is drawn)."""
    from .._utils import validate as _validate

    if activity not in ("group", "independent"):
        raise ValueError(f"activity must be 'group' or 'independent', got {activity!r}.")
    _validate.check_numbers(active_fraction=active_fraction)
    if not 0 < active_fraction <= 1:
        raise ValueError(f"active_fraction must be in (0, 1], got {active_fraction}.")
    ints = ("n_cells", "n_genes", "n_groups", "program_size", "n_samples")
    _validate.check_integers(1, **{k: values[k] for k in ints})
    _validate.check_integers(0, n_programs=values["n_programs"])
    _validate.check_integers(0, n_decoys=values["n_decoys"])
    reals = ("fold_change", "dispersion", "mean_library_size", "sample_effect", "library_effect")
    _validate.check_numbers(**{k: values[k] for k in reals})
    _validate.check_at_least(0, sample_effect=values["sample_effect"])
    _validate.check_at_least(0, library_effect=values["library_effect"])
    # Upper bounds keep every count within int32 (library size x fold change < 2**31).
    for name, low, high, closed in (
        ("fold_change", 1, 100, True),
        ("mean_library_size", 1, 1e6, True),
        ("dispersion", 0, 100, False),
    ):
        v = values[name]
        if not (low <= v if closed else low < v) or not v <= high:
            span = f"{'[' if closed else '('}{low}, {high:g}]"
            raise ValueError(f"{name} must be in {span}, got {v!r}.")
    _validate.seed(random_state)


def _plant_programs(
    mu: np.ndarray,
    obs: pd.DataFrame,
    group: np.ndarray,
    rng: np.random.Generator,
    *,
    names: list[str],
    n_programs: int,
    n_decoys: int,
    program_size: int,
    fold_change: float,
    activity: str,
    active_fraction: float,
    n_groups: int,
) -> tuple[list[tuple[str, str]], list[tuple[str, str, float]]]:
    """Raise the means of each program's genes where it is active (``mu`` and ``obs`` in place).

    Returns the long gene-set list (programs and decoys) and one row per program.
    """
    n_cells, n_genes = mu.shape
    genes = rng.permutation(n_genes)
    sets, programs = [], []
    for p in range(n_programs + n_decoys):
        members = genes[p * program_size : (p + 1) * program_size]
        if p < n_programs:
            name = f"program{p}"
            if activity == "group":
                target = f"g{p % n_groups}"
                active = group == p % n_groups
            else:
                target = "none"
                active = rng.random(n_cells) < active_fraction
            a = np.where(active, rng.uniform(0.5, 1.0, n_cells), 0.0)
            mu[:, members] *= 1.0 + (fold_change - 1.0) * a[:, None]
            obs[f"{name}_activity"] = a
            programs.append((name, target, fold_change))
        else:
            name = f"decoy{p - n_programs}"
        sets += [(name, names[g]) for g in members]
    return sets, programs
