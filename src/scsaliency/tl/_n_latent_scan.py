"""``tl.n_latent_scan``: stability and error over candidate numbers of units (cNMF's K choice)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
from anndata import AnnData
from tqdm.auto import tqdm

from .._core.matching import matched_cosines
from .._stored import program_vectors
from .._utils import validate as _validate
from .._utils.docs import doc_params
from ._ortho_ae import ortho_ae


@doc_params("copy", "progress")
def n_latent_scan(
    adata: AnnData,
    n_latent: Sequence[int] = (16, 32, 48, 64),
    *,
    n_runs: int = 3,
    threshold: float = 0.8,
    random_state: int = 0,
    key_added: str = "n_latent_scan",
    copy: bool = False,
    progress: bool = True,
    **ortho_ae_kwargs,
) -> AnnData | None:
    """Train ``n_runs`` models per candidate number of units; how stable, how good each is.

    As cNMF chooses its number of programs: for each candidate, the runs' gene programs are
    matched one to one between every pair of runs (Hungarian assignment on the cosine of the
    square root of expected counts), and the validation loss says how well the model explains
    held-out cells. Choose the largest number of units whose programs still come back, where
    the loss has stopped falling much (:func:`scsaliency.pl.n_latent_scan` plots both).

    Parameters
    ----------
    adata
        Cells x genes with raw counts, as for :func:`scsaliency.tl.ortho_ae`.
    n_latent
        Candidate numbers of units.
    n_runs
        Runs per candidate (at least 2); each costs one training.
    threshold
        Matched cosine above which a program counts as coming back.
    random_state
        Seed of the runs' seeds.
    key_added
        Where the table goes (below).
    {copy}
    {progress}
    **ortho_ae_kwargs
        Passed to :func:`scsaliency.tl.ortho_ae` (``mask_var``, ``layer``, ...; the decoder must
        stay additive).

    Returns
    -------
    ``None``, or the copy. Stores ``adata.uns[key_added]``: ``"table"`` (one row per candidate:
    ``n_latent``, ``stability`` (median over pairs of runs of the median matched cosine),
    ``stable_share`` (mean share of units whose matched cosine is above ``threshold``),
    ``val_loss`` (mean over runs of the best validation loss), ``seconds`` (mean training time))
    and ``"params"`` (``n_runs``, ``threshold``, ``random_state``).
    """
    _validate.check_tool(adata, copy=copy, key_added=key_added)
    random_state = _validate.seed(random_state)
    _validate.check_integers(2, n_runs=n_runs)
    if isinstance(n_latent, (int, np.integer)):
        n_latent = [n_latent]
    _validate.check_integers(1, **{f"n_latent[{i}]": k for i, k in enumerate(n_latent)})
    candidates = [int(k) for k in n_latent]
    if not candidates or min(candidates) < 1 or len(set(candidates)) != len(candidates):
        raise ValueError(f"n_latent must be distinct positive integers, got {n_latent!r}.")
    _validate.check_fraction("threshold", threshold)
    if ortho_ae_kwargs.get("decoder", "additive") != "additive":
        raise ValueError("n_latent_scan compares gene programs: it needs decoder='additive'.")
    seeds = [int(s) for s in np.random.default_rng(random_state).integers(0, 2**31 - 1, n_runs)]
    rows = []
    jobs = [(k, s) for k in candidates for s in seeds]
    bar = tqdm(total=len(jobs), desc="n_latent scan", disable=not progress)
    for k in candidates:
        vectors, losses, seconds = [], [], []
        for seed in seeds:
            t = time.perf_counter()
            run = ortho_ae(
                adata, n_latent=k, random_state=seed, copy=True, progress=False, **ortho_ae_kwargs
            )
            seconds.append(time.perf_counter() - t)
            vectors.append(program_vectors(run.uns["ortho_ae"]))
            losses.append(float(run.uns["ortho_ae"]["history"]["val_loss"].min()))
            bar.update()
        cos = [matched_cosines(a, b)[1] for a, b in itertools.combinations(vectors, 2)]
        rows.append(
            {
                "n_latent": k,
                "stability": float(np.median([np.median(c) for c in cos])),
                "stable_share": float(np.mean([(c > threshold).mean() for c in cos])),
                "val_loss": float(np.mean(losses)),
                "seconds": float(np.mean(seconds)),
            }
        )
    bar.close()
    adata = adata.copy() if copy else adata
    adata.uns[key_added] = {
        "table": pd.DataFrame(rows),
        "params": {
            "n_runs": int(n_runs),
            "threshold": float(threshold),
            "random_state": int(random_state),
        },
    }
    return adata if copy else None
