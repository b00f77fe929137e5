"""Hematopoietic signatures derived from the DMAP expression table (Novershtern et al. 2011)."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

from ._registry import fetch


def dmap_table() -> pd.DataFrame:
    """DMAP mean log2 expression, gene symbols x 38 populations.

    The table lists some genes once per microarray probe, made unique with a ``.1``, ``.2``
    suffix; those rows are averaged into one row per gene symbol.
    """
    df = pd.read_csv(fetch("dmap"))
    df["gene_symbol"] = df["gene_symbol"].astype(str).str.replace(r"\.\d+$", "", regex=True)
    return df.groupby("gene_symbol", sort=True).mean(numeric_only=True)


def _set_name(population: str) -> str:
    population = unicodedata.normalize("NFKD", population).encode("ascii", "ignore").decode()
    return "DMAP_" + re.sub(r"[^0-9A-Za-z+\-]+", "_", population).strip("_")


def dmap_signatures(n_genes: int = 50, min_log2_diff: float = 1.0) -> dict[str, list[str]]:
    """One signature per DMAP population: the genes most above the other populations.

    Rule: for population ``p`` and gene ``g``, ``d = x[g, p] - mean(x[g, q] for q != p)`` on the
    log2 scale. The signature is the ``n_genes`` genes with the largest ``d``, keeping only those
    with ``d >= min_log2_diff`` (at least 2-fold above the average of the other populations at
    the default). Symbols are human; they are matched to a model's genes case-insensitively, so
    mouse symbols that are the upper-cased human ones (most 1:1 orthologs, e.g. Gata1 / GATA1)
    match too.

    Parameters
    ----------
    n_genes
        Maximum genes per signature.
    min_log2_diff
        Minimum log2 difference to the other populations' mean.

    Returns
    -------
    ``{"DMAP_<population>": genes}`` for the 38 populations, names with non-alphanumeric runs
    replaced by ``_``.
    """
    from .._utils import validate as _validate

    _validate.check_integers(1, n_genes=n_genes)
    _validate.check_numbers(min_log2_diff=min_log2_diff)
    n_genes = int(n_genes)
    x = dmap_table()
    values = x.to_numpy()
    n = values.shape[1]
    others = (values.sum(axis=1, keepdims=True) - values) / (n - 1)
    diff = values - others
    out = {}
    for j, pop in enumerate(x.columns):
        order = np.argsort(-diff[:, j], kind="stable")[:n_genes]
        order = order[diff[order, j] >= min_log2_diff]
        out[_set_name(pop)] = list(x.index[order])
    return out
