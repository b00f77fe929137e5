"""``scsaliency run`` as a recipe: read, check, train (or transfer), explain, write.

Written with the public ``tl`` / ``get`` / ``pl`` API; the outputs are written by
:mod:`._outputs` and the report by :mod:`._report`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anndata as ad
import matplotlib
import numpy as np
import scanpy as sc
from anndata import AnnData

from .. import datasets, get, tl
from ..genesets import as_dict, in_sets
from ._outputs import figures, tables, umaps
from ._report import write_report

#: Runs of the consensus model when ``--runs`` is not given (``tl.ortho_ae(n_runs=...)``).
DEFAULT_RUNS = 6


class CLIError(Exception):
    """An input problem reported as one line, without a traceback."""


#: Data set names the command line reads from the data directory (``datasets.load``).
DATASETS = ("pbmc3k", "paul15", "kang18", "mixology")


def _read_input(spec: str) -> AnnData:
    path = Path(spec)
    if path.is_dir():
        if not any(path.glob("matrix.mtx*")):
            raise CLIError(f"{spec} is a directory without a 10x matrix.mtx(.gz).")
        return sc.read_10x_mtx(path, var_names="gene_symbols")
    if path.suffix == ".h5ad":
        if not path.is_file():
            raise CLIError(f"input file not found: {spec}")
        try:
            return ad.read_h5ad(path)
        except Exception as err:  # h5py and anndata raise many types for a damaged file
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CLIError(
                f"cannot read {spec}: not a readable .h5ad file (truncated, or another format?): "
                f"{first}"
            ) from err
    if spec in DATASETS:
        try:
            return datasets.load(spec)
        except FileNotFoundError as err:
            raise CLIError(str(err)) from err
    raise CLIError(
        f"cannot read {spec!r}: give an .h5ad file, a 10x directory, or a data set name "
        f"({', '.join(DATASETS)})."
    )


def _gene_sets(specs: list[str], var_names) -> dict[str, list[str]]:
    sets: dict[str, list[str]] = {}
    for spec in specs:
        try:
            sets.update(as_dict(spec, var_names))
        except (KeyError, FileNotFoundError, ValueError) as err:
            raise CLIError(str(err).strip("'\"")) from err
    return sets


def _gene_mask(adata: AnnData, args, sets: dict[str, list[str]]) -> np.ndarray:
    """Genes to train on: detected in ``--min-cells`` cells and, by default, in a gene set."""
    detected = np.asarray((adata.X > 0).sum(0)).ravel() >= args.min_cells
    mask = detected.copy()
    if args.genes != "all" and sets:
        mask &= in_sets(adata.var_names, sets)
    if not mask.any():
        n_union = len({g.upper() for genes in sets.values() for g in genes})
        shared = int(in_sets(adata.var_names, sets).sum())
        raise CLIError(
            f"the gene sets {', '.join(args.gene_sets)} ({len(sets)} sets, {n_union} genes) "
            f"share {shared} of the data's {adata.n_vars} genes"
            + (f" (none detected in >= {args.min_cells} cells)" if shared else "")
            + "; check that both use gene symbols (not Ensembl ids) of the same species, "
            f"e.g. var_names like {adata.var_names[0]!r}."
        )
    return mask


def run(args: argparse.Namespace) -> None:
    """The main job; see ``scsaliency run --help``."""
    matplotlib.use("Agg")
    out = Path(args.out)
    adata = _read_input(args.input)
    # gene symbols repeat in 10x data and some h5ad files; the tools need them unique
    adata.var_names_make_unique()
    _check_input(adata, args)
    if args.groupby is not None:
        adata = adata[adata.obs[args.groupby].notna()].copy()
        adata.obs[args.groupby] = adata.obs[args.groupby].astype(str).astype("category")
    if not args.gene_sets:
        raise CLIError("give at least one --gene-sets (e.g. --gene-sets hallmark).")
    sets = _gene_sets(args.gene_sets, adata.var_names)
    progress = not args.quiet
    try:
        mask = _explain(adata, args, sets, progress=progress)
    except (ValueError, TypeError, KeyError, FileNotFoundError) as err:
        raise CLIError(str(err).strip("'\"")) from err

    out.mkdir(parents=True, exist_ok=True)
    umaps(adata, mask, args.groupby, args.seed, out, progress=progress)
    written = {"umap.png": "UMAP of the input and of the representation"}
    written.update(figures(adata, args.groupby, out))
    csvs, diffs = tables(adata, args.groupby, out, stability=bool(args.stability))
    adata.write_h5ad(out / "adata.h5ad")
    write_report(
        out,
        adata,
        title=args.input,
        gene_sets=args.gene_sets,
        groupby=args.groupby,
        figures=written,
        tables=csvs,
        diffs=diffs,
    )
    if progress:
        print(f"wrote {out}/report.html", file=sys.stderr)


def _check_input(adata: AnnData, args: argparse.Namespace) -> None:
    """The data and the obs columns the command names, checked before any work."""
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise CLIError(
            f"{args.input}: no cells or no genes (shape {adata.n_obs} x {adata.n_vars})."
        )
    if args.groupby is not None:
        _require_column(adata, "--groupby", args.groupby)
    for key in args.batch_key:
        _require_column(adata, "--batch-key", key)
    if args.stability and args.reference is not None:
        raise CLIError(
            "--stability retrains the model, which --reference does not train; "
            "leave --stability out (or 0) with --reference."
        )
    if args.stability and _n_runs(args) > 1:
        raise CLIError(
            "--stability measures a single run's units; the consensus model (--runs) "
            "already stores each unit's share of runs. Add --runs 1 to measure a single run."
        )
    if args.sample_key is not None:
        if args.groupby is None:
            raise CLIError(
                "--sample-key needs --groupby: samples are the replicates of a group test."
            )
        _require_column(adata, "--sample-key", args.sample_key)


def _require_column(adata: AnnData, flag: str, key: str) -> None:
    """``key`` (given as ``flag``) must be a column of ``obs``."""
    if key not in adata.obs.columns:
        raise CLIError(
            f"{flag} {key!r} is not a column of obs "
            f"(columns: {', '.join(adata.obs.columns) or 'none'})."
        )


def _explain(
    adata: AnnData, args: argparse.Namespace, sets: dict[str, list[str]], *, progress: bool
) -> np.ndarray:
    """Train (or transfer) the model, then saliency and impact; returns the model's gene mask."""
    if args.reference is None:
        mask = _gene_mask(adata, args, sets)
        tl.ortho_ae(
            adata,
            mask_var=mask,
            n_latent=args.n_latent,
            random_state=args.seed,
            max_epochs=args.max_epochs,
            decoder=args.decoder,
            center_input=args.center_input,
            library_size=args.library_size,
            scale_units=args.scale_units,
            lr=args.lr,
            program_lr=args.program_lr,
            tol=args.tol,
            batch_key=args.batch_key or None,
            n_runs=_n_runs(args),
            progress=progress,
        )
    else:
        tl.transfer(adata, args.reference)
    tl.saliency(adata, method=args.saliency_method, groupby=args.groupby, progress=progress)
    if args.reference is not None:  # the genes the model uses: saliency is NaN elsewhere
        mask = ~np.isnan(adata.varm["saliency"]).all(axis=1)
    tl.geneset_impact(
        adata,
        sets,
        groupby=args.groupby,
        sample_key=args.sample_key,
        min_size=args.min_size,
        random_state=args.seed,
        progress=progress,
    )
    status = get.units(adata)["status"]
    if (status == "inactive").all():
        raise ValueError(
            f"every one of the model's {len(status)} units is inactive (no gene drives it), so "
            "there is nothing to explain; train longer (--max-epochs) or on more genes."
        )
    if args.stability:
        tl.stability(adata, sets, n_runs=args.stability, random_state=args.seed, progress=progress)
    return mask


def _n_runs(args: argparse.Namespace) -> int:
    """``--runs``, or its default: the consensus model where programs are trained."""
    if args.runs is not None:
        return args.runs
    return DEFAULT_RUNS if args.decoder == "additive" else 1
