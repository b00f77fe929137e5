"""Gene sets: read them, name them, and match them to the genes a model uses.

Gene sets come as a GMT path, a dict name -> genes, a decoupler-style DataFrame with columns
``source`` and ``target``, or a resource name of ``data_manifest.yaml``: ``"hallmark"`` (human
or mouse, told from the gene symbols), ``"dmap"`` (hematopoietic signatures, see
:func:`scsaliency.datasets.dmap_signatures`) and ``"pbmc_markers"``
(:func:`scsaliency.datasets.pbmc_markers`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

GeneSetsLike = str | Path | Mapping[str, Sequence[str]] | pd.DataFrame


def read_gmt(path: str | Path) -> dict[str, list[str]]:
    """Read a GMT file into ``{set name: genes}``.

    Parsing is gseapy's (:func:`gseapy.read_gmt`), which strips CRLF line ends and skips blank
    lines; empty gene fields and duplicate genes within a set are dropped here, keeping the
    first occurrence.
    """
    import gseapy

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GMT file not found: {path}")
    if not path.name.lower().endswith("gmt"):
        raise ValueError(f"{path} does not end in .gmt; pass a GMT file or a dict of gene sets.")
    raw = gseapy.read_gmt(str(path))
    return {
        name.strip(): list(dict.fromkeys(g.strip() for g in genes if g.strip()))
        for name, genes in raw.items()
    }


def species_of(symbols: Sequence[str]) -> str:
    """``"human"`` if most symbols are upper case (TP53), else ``"mouse"`` (Trp53)."""
    s = pd.Index(symbols).astype(str)
    s = s[s.str.contains("[A-Za-z]", regex=True)]
    if len(s) == 0:
        return "human"
    return "human" if (s == s.str.upper()).mean() >= 0.5 else "mouse"


def load_resource(name: str, var_names: Sequence[str], **kwargs) -> dict[str, list[str]]:
    """Gene sets of a resource: ``"hallmark"`` (species from ``var_names``) or ``"dmap"``."""
    from .datasets import dmap_signatures, fetch, pbmc_markers

    key = name.lower()
    if key == "hallmark":
        key = f"hallmark_{species_of(var_names)}"
    if key in ("hallmark_human", "hallmark_mouse"):
        return read_gmt(fetch(key))
    if key == "dmap":
        return dmap_signatures(**kwargs)
    if key == "pbmc_markers":
        return pbmc_markers()
    raise KeyError(
        f"Unknown gene-set resource {name!r}. Use 'hallmark', 'hallmark_human', "
        "'hallmark_mouse', 'dmap', 'pbmc_markers', a GMT path, a dict or a DataFrame with "
        "source/target columns."
    )


def resource_options(gene_sets) -> tuple[str, ...]:
    """Keyword arguments the resource ``gene_sets`` names takes (``"dmap"``'s); else none."""
    if isinstance(gene_sets, str) and gene_sets.lower() == "dmap":
        import inspect

        from .datasets import dmap_signatures

        return tuple(inspect.signature(dmap_signatures).parameters)
    return ()


def check_options(gene_sets, kwargs: Mapping, *, caller: str, known: Sequence[str] = ()) -> None:
    """Refuse keyword arguments that neither ``caller`` nor the resource takes.

    ``known`` are the caller's own parameters, used to suggest the one a typo meant.
    """
    allowed = resource_options(gene_sets)
    unknown = [k for k in kwargs if k not in allowed]
    if not unknown:
        return
    import difflib

    hints = []
    for k in unknown:
        close = difflib.get_close_matches(k, [*known, *allowed], n=1)
        hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    takes = f" {gene_sets!r} takes {', '.join(allowed)}." if allowed else ""
    raise TypeError(
        f"{caller}() got unexpected keyword arguments: {', '.join(hints)}. Extra keyword "
        f"arguments go to a gene-set resource that takes them ('dmap': n_genes, "
        f"min_log2_diff).{takes}"
    )


def as_dict(
    gene_sets: GeneSetsLike, var_names: Sequence[str] = (), **kwargs
) -> dict[str, list[str]]:
    """Any accepted form of gene sets as ``{name: genes}``."""
    if gene_sets is None:
        raise TypeError(
            "gene_sets is None: pass a dict name -> genes, a GMT path, a resource name such as "
            "'hallmark', or a DataFrame with source/target columns."
        )
    check_options(gene_sets, kwargs, caller="as_dict")
    if isinstance(gene_sets, pd.DataFrame):
        missing = {"source", "target"} - set(gene_sets.columns)
        if missing:
            raise ValueError(
                f"Gene-set DataFrame needs columns 'source' and 'target'; missing {missing}."
            )
        return {
            str(k): list(dict.fromkeys(v.astype(str)))
            for k, v in gene_sets.groupby("source", sort=False, observed=True)["target"]
        }
    if isinstance(gene_sets, Mapping):
        return {str(k): _genes_of(k, v) for k, v in gene_sets.items()}
    if isinstance(gene_sets, (str, Path)):
        p = Path(gene_sets)
        if p.suffix.lower() == ".gmt" or p.is_file():
            return read_gmt(p)
        return load_resource(str(gene_sets), var_names, **kwargs)
    if isinstance(gene_sets, (list, tuple, np.ndarray, pd.Index, pd.Series)):
        shown = list(gene_sets[:3]) if len(gene_sets) else []
        raise TypeError(
            f"gene_sets is a {type(gene_sets).__name__} ({shown}...); a list of genes is one "
            f"set without a name. Pass a dict, e.g. {{'my_set': {shown}}}, a GMT path, a "
            "resource name such as 'hallmark', or a DataFrame with source/target columns."
        )
    raise TypeError(
        f"Cannot read gene sets from {type(gene_sets).__name__}: pass a dict name -> genes, a "
        "GMT path, a resource name such as 'hallmark', or a DataFrame with source/target columns."
    )


def _genes_of(name, genes) -> list[str]:
    """The genes of one set of a dict, refusing a string (which would split into letters)."""
    if isinstance(genes, (str, bytes)) or not isinstance(genes, Iterable):
        raise TypeError(
            f"Gene set {name!r} is {genes!r}, not a list of genes; write "
            f"{{{str(name)!r}: [{genes!r}]}} for a one-gene set, or list its genes."
        )
    return list(dict.fromkeys(map(str, genes)))


def in_sets(var_names: Sequence[str], gene_sets: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Boolean mask of ``var_names`` that belong to any set (case-insensitive, as ``match``)."""
    union = {g.upper() for genes in gene_sets.values() for g in genes}
    return pd.Index(var_names).astype(str).str.upper().isin(union)


def _warn_species(gene_sets: Mapping[str, Sequence[str]], model_genes: pd.Index) -> None:
    """Warn when the sets' symbols and the data's look like different species.

    Matching is case-insensitive, so human sets (TP53) would silently "match" mouse data
    (Trp53) through their orthologues' shared spelling; the case pattern tells them apart.
    """
    set_genes = [g for genes in gene_sets.values() for g in genes]
    if not set_genes or not len(model_genes):
        return
    sets_sp, data_sp = species_of(set_genes), species_of(model_genes)
    if sets_sp != data_sp:
        right = "hallmark_mouse" if data_sp == "mouse" else "hallmark_human"
        warnings.warn(
            f"The gene sets look {sets_sp} (symbols like {set_genes[0]!r}) but the data look "
            f"{data_sp} (like {model_genes[0]!r}); symbols match case-insensitively, so genes "
            f"of another species may match by spelling. Pass gene sets of the data's species "
            f"(e.g. {right!r}, or 'hallmark', which picks the species from the data).",
            stacklevel=4,
        )


@dataclass
class MatchedGeneSets:
    """Gene sets matched to a model's genes.

    ``membership`` is genes x sets (boolean, model gene order); ``table`` has one row per set
    with its original size and its overlap with the model's genes.
    """

    names: list[str]
    genes: dict[str, list[str]]
    membership: np.ndarray
    table: pd.DataFrame

    def long(self) -> pd.DataFrame:
        """Decoupler-style ``source``/``target`` table of the genes used."""
        return pd.DataFrame(
            [(s, g) for s in self.names for g in self.genes[s]], columns=["source", "target"]
        )


def match(
    gene_sets: Mapping[str, Sequence[str]], model_genes: Sequence[str], *, min_size: int = 5
) -> MatchedGeneSets:
    """Match sets to ``model_genes`` case-insensitively; drop sets with fewer than ``min_size``.

    A warning names the dropped sets; a :class:`ValueError` is raised when none is left.
    """
    model_genes = pd.Index(model_genes).astype(str)
    dup = model_genes[model_genes.duplicated()].unique()
    if len(dup):
        shown = ", ".join(map(repr, dup[:5])) + (", ..." if len(dup) > 5 else "")
        raise ValueError(
            f"The genes to match have {len(dup)} repeated names ({shown}), as 10x data read by "
            "symbol often has; genes must be named uniquely. Run adata.var_names_make_unique() "
            "first."
        )
    _warn_species(gene_sets, model_genes)
    upper = pd.Index(model_genes.str.upper())
    first = ~upper.duplicated()
    pos = pd.Series(np.flatnonzero(first), index=upper[first])
    rows, genes_used, kept, dropped = [], {}, [], []
    for name, genes in gene_sets.items():
        hits = pos.reindex(pd.Index(dict.fromkeys(g.upper() for g in genes))).dropna().astype(int)
        rows.append((name, len(set(g.upper() for g in genes)), len(hits)))
        if len(hits) >= min_size:
            kept.append(name)
            genes_used[name] = list(model_genes[hits.to_numpy()])
        else:
            dropped.append(f"{name} ({len(hits)})")
    table = pd.DataFrame(rows, columns=["gene_set", "set_size", "overlap"]).set_index("gene_set")
    table["used"] = table.index.isin(kept)
    if not kept:
        best = table["overlap"].max() if len(table) else 0
        raise ValueError(
            f"No gene set shares at least min_size={min_size} genes with the model's "
            f"{len(model_genes)} genes (best overlap: {best}). "
            "Check the species and symbol type of the gene sets (e.g. human 'hallmark_human' vs "
            "mouse 'hallmark_mouse', symbols vs Ensembl ids) or lower min_size."
        )
    if dropped:
        warnings.warn(
            f"{len(dropped)} gene sets overlap the model's genes in fewer than {min_size} genes "
            f"and are left out: {', '.join(dropped)}.",
            stacklevel=3,
        )
    membership = np.zeros((len(model_genes), len(kept)), dtype=bool)
    for j, name in enumerate(kept):
        membership[model_genes.get_indexer(genes_used[name]), j] = True
    return MatchedGeneSets(kept, genes_used, membership, table)
