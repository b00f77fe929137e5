"""``scsaliency run``: from counts to an annotated .h5ad, tables, figures and a short report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from anndata import AnnData

from .nn.gradients import METHODS
from .nn.network import DECODERS

#: Runs of the consensus model when ``--runs`` is not given (``tl.ortho_ae(n_runs=...)``).
DEFAULT_RUNS = 6


class CLIError(Exception):
    """An input problem reported as one line, without a traceback."""


#: Data set names the command line reads from the data directory (``datasets.load``).
DATASETS = ("pbmc3k", "paul15", "kang18", "mixology")


def _read_input(spec: str) -> AnnData:
    import anndata as ad
    import scanpy as sc

    from . import datasets

    path = Path(spec)
    if path.is_dir():
        if not any(path.glob("matrix.mtx*")):
            raise CLIError(f"{spec} is a directory without a 10x matrix.mtx(.gz).")
        adata = sc.read_10x_mtx(path, var_names="gene_symbols")
        adata.var_names_make_unique()
        return adata
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
    from .genesets import as_dict

    sets: dict[str, list[str]] = {}
    for spec in specs:
        try:
            sets.update(as_dict(spec, var_names))
        except (KeyError, FileNotFoundError, ValueError) as err:
            raise CLIError(str(err).strip("'\"")) from err
    return sets


def _gene_mask(adata: AnnData, args, sets: dict[str, list[str]]) -> np.ndarray:
    """Genes to train on: detected in ``--min-cells`` cells and, by default, in a gene set."""
    from .genesets import in_sets

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


def _aligned_rep(adata: AnnData, seed: int, progress: bool) -> str | None:
    """``tl.align`` when the model has batches and the data more than one: its obsm key."""
    from . import _batches, tl

    keys = list(_batches.stored_categories(adata.uns["ortho_ae"]))
    if not _batches.more_than_one(_batches.categories(adata, keys)):
        return None
    tl.align(adata, random_state=seed, progress=progress)
    return "X_ortho_ae_aligned"


def _umaps(
    adata: AnnData,
    mask: np.ndarray,
    groupby: str | None,
    seed: int,
    out: Path,
    *,
    progress: bool,
) -> None:
    """UMAP of the input (log-normalised counts, 50 PCs) next to UMAP of the representation.

    A model with batches: the representation's UMAP is built on it aligned (``tl.align``).
    """
    import matplotlib.pyplot as plt
    import scanpy as sc

    b = adata.copy()
    sc.pp.normalize_total(b, target_sum=1e4)
    sc.pp.log1p(b)
    sc.pp.pca(
        b, n_comps=min(50, int(mask.sum()) - 1, b.n_obs - 1), mask_var=mask, random_state=seed
    )
    sc.pp.neighbors(b, random_state=seed)
    sc.tl.umap(b, random_state=seed)
    adata.obsm["X_umap_input"] = b.obsm["X_umap"]
    # the square root evens out the activities' count-like noise (docs/usage.md)
    adata.obsm["X_ortho_ae_sqrt"] = np.sqrt(adata.obsm["X_ortho_ae"])
    aligned = _aligned_rep(adata, seed, progress)
    sc.pp.neighbors(
        adata,
        use_rep=aligned or "X_ortho_ae_sqrt",
        key_added="ortho_ae_neighbors",
        random_state=seed,
    )
    sc.tl.umap(adata, neighbors_key="ortho_ae_neighbors", random_state=seed)
    adata.obsm["X_umap_ortho_ae"] = adata.obsm.pop("X_umap")
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
    for ax, basis, title in [
        (axes[0], "umap_input", "UMAP of the input (50 PCs)"),
        (
            axes[1],
            "umap_ortho_ae",
            "UMAP of the ortho_ae representation (square root"
            + (", aligned across batches)" if aligned else ")"),
        ),
    ]:
        sc.pl.embedding(
            adata,
            basis=basis,
            color=groupby,
            ax=ax,
            show=False,
            title=title,
            legend_loc="right margin" if ax is axes[1] else None,
        )
    fig.savefig(out / "umap.png", dpi=120)
    plt.close(fig)


def run(args: argparse.Namespace) -> None:
    """The main job; see ``scsaliency run --help``."""
    import matplotlib

    matplotlib.use("Agg")
    from ._report import write_report

    out = Path(args.out)
    adata = _read_input(args.input)
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
    _umaps(adata, mask, args.groupby, args.seed, out, progress=progress)
    figures = {"umap.png": "UMAP of the input and of the representation"}
    figures.update(_figures(adata, args.groupby, out))
    tables, diffs = _tables(adata, args.groupby, out)
    adata.write_h5ad(out / "adata.h5ad")
    write_report(
        out,
        adata,
        title=args.input,
        gene_sets=args.gene_sets,
        groupby=args.groupby,
        figures=figures,
        tables=tables,
        diffs=diffs,
    )
    if progress:
        print(f"wrote {out}/report.html", file=sys.stderr)


def _check_input(adata: AnnData, args: argparse.Namespace) -> None:
    """The data and the obs columns the command names, checked before any work."""
    from ._validate import check_adata

    try:
        check_adata(adata)
    except ValueError as err:
        raise CLIError(f"{args.input}: {err}") from err
    if args.groupby is not None and args.groupby not in adata.obs.columns:
        raise CLIError(
            f"--groupby {args.groupby!r} is not a column of obs "
            f"(columns: {', '.join(adata.obs.columns) or 'none'})."
        )
    for key in args.batch_key:
        if key not in adata.obs.columns:
            raise CLIError(
                f"--batch-key {key!r} is not a column of obs "
                f"(columns: {', '.join(adata.obs.columns) or 'none'})."
            )
    if args.sample_key is not None:
        if args.groupby is None:
            raise CLIError(
                "--sample-key needs --groupby: samples are the replicates of a group test."
            )
        if args.sample_key not in adata.obs.columns:
            raise CLIError(
                f"--sample-key {args.sample_key!r} is not a column of obs "
                f"(columns: {', '.join(adata.obs.columns) or 'none'})."
            )


def _explain(
    adata: AnnData, args: argparse.Namespace, sets: dict[str, list[str]], *, progress: bool
) -> np.ndarray:
    """Train (or transfer) the model, then saliency and impact; returns the model's gene mask."""
    from . import tl

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
        mask = adata.var_names.isin(np.asarray(adata.uns["ortho_ae"]["var_names"]).astype(str))
    tl.saliency(adata, method=args.saliency_method, groupby=args.groupby, progress=progress)
    tl.geneset_impact(
        adata,
        sets,
        groupby=args.groupby,
        sample_key=args.sample_key,
        min_size=args.min_size,
        random_state=args.seed,
        progress=progress,
    )
    e = adata.uns["geneset_impact"]
    if len(e["inactive_units"]) == e["impact"].shape[1]:
        raise ValueError(
            f"every one of the model's {e['impact'].shape[1]} units is inactive (no gene drives "
            "it), so there is nothing to explain; train longer (--max-epochs) or on more genes."
        )
    if args.stability:
        if args.reference is not None:
            raise ValueError(
                "--stability retrains the model, which --reference does not train; "
                "leave --stability out (or 0) with --reference."
            )
        if "consensus" in adata.uns["ortho_ae"]:
            raise ValueError(
                "--stability measures a single run's units; the consensus model (--runs) "
                "already stores each unit's share of runs. Add --runs 1 to measure a single run."
            )
        tl.stability(adata, sets, n_runs=args.stability, random_state=args.seed, progress=progress)
    return mask


def _n_runs(args: argparse.Namespace) -> int:
    """``--runs``, or its default: the consensus model where programs are trained."""
    if args.runs is not None:
        return args.runs
    return DEFAULT_RUNS if args.decoder == "additive" else 1


def _figures(adata: AnnData, groupby: str | None, out: Path) -> dict[str, str]:
    """The heatmaps, the training history and one difference map per group, as PNG."""
    import matplotlib.pyplot as plt

    from . import pl

    figures = {}
    for name, kwargs, caption in [
        (
            "impact_heatmap.png",
            {},
            "Which unit carries which gene set: z-scores against matched random sets, units "
            "labelled with the set they carry (dot: padj < 0.05)",
        ),
        (
            "impact_scaled.png",
            {"values": "scaled", "order": "cluster"},
            "The paper's view: min-max scaled impact, clustered",
        ),
    ]:
        pl.impact_heatmap(adata, save=out / name, show=False, **kwargs)
        plt.close("all")
        figures[name] = caption
    pl.training_history(adata, save=out / "training_history.png", show=False)
    plt.close("all")
    figures["training_history.png"] = "Training history"
    if groupby is not None:
        for g in adata.uns["geneset_impact"]["groups"]:
            safe = "".join(c if c.isalnum() else "_" for c in g)
            name = f"impact_diff_{safe}.png"
            pl.impact_diff(adata, g, groupby=groupby, save=out / name, show=False)
            plt.close("all")
            figures[name] = f"{g} against the rest"
    return figures


def _tables(adata: AnnData, groupby: str | None, out: Path) -> tuple[list[str], list]:
    """Write the tables: ``impact.csv``, ``units.csv`` and, when present, the rest.

    ``geneset_stability.csv`` with repeated runs; ``impact_diff.csv`` (each group against the
    rest) with groups.
    """
    import pandas as pd

    from . import get
    from ._results import set_runs

    get.impact(adata).to_csv(out / "impact.csv", index=False)
    get.units(adata).to_csv(out / "units.csv", index=False)
    tables = ["impact.csv", "units.csv"]
    if set_runs(adata) is not None:
        get.geneset_stability(adata).to_csv(out / "geneset_stability.csv", index=False)
        tables.append("geneset_stability.csv")
    diffs = []
    if groupby is not None:
        diffs = [get.impact_diff(adata, g) for g in adata.uns["geneset_impact"]["groups"]]
        pd.concat(
            d.assign(group1=d.attrs["group1"], group2="rest", test=d.attrs["test"]) for d in diffs
        ).to_csv(out / "impact_diff.csv", index=False)
        tables.append("impact_diff.csv")
    return tables, diffs


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the ``scsaliency`` command."""
    p = argparse.ArgumentParser(
        prog="scsaliency",
        description="Orthogonal autoencoder + saliency maps for single-cell counts.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser(
        "run",
        help="train, explain and report on one data set",
        description="Train tl.ortho_ae on raw counts, compute saliency and gene-set "
        "impact (and group comparisons with --groupby), and write into --out: adata.h5ad, "
        "impact.csv, impact_diff.csv, PNG figures and report.html.",
    )
    r.add_argument(
        "input",
        help="an .h5ad file, a 10x directory (matrix.mtx), or a data set "
        "name from data_manifest.yaml (pbmc3k, paul15, kang18, mixology)",
    )
    r.add_argument(
        "--gene-sets",
        action="append",
        default=[],
        metavar="NAME_OR_GMT",
        help="gene sets: 'hallmark', 'hallmark_human', 'hallmark_mouse', 'dmap', "
        "'pbmc_markers' or a .gmt path; repeat for more",
    )
    r.add_argument("--groupby", default=None, help="obs column with cell groups to compare")
    r.add_argument(
        "--sample-key",
        default=None,
        help="obs column naming each cell's sample or donor: group tests then run across "
        "samples (pseudobulk) instead of cells",
    )
    r.add_argument(
        "--batch-key",
        action="append",
        default=[],
        metavar="COLUMN",
        help="obs column of a technical covariate (sample, run, technology) that the units "
        "should not carry (tl.ortho_ae(batch_key=...)), and across which the UMAP's cell "
        "graph is aligned (tl.align); repeat for more",
    )
    r.add_argument(
        "--reference",
        default=None,
        metavar="REF.h5ad",
        help="explain the input with the model stored in this .h5ad (tl.transfer): no training, "
        "so --genes, --min-cells, --n-latent and --max-epochs do not apply",
    )
    r.add_argument("--out", required=True, help="output directory (created if missing)")
    r.add_argument(
        "--genes",
        choices=["gene-sets", "all"],
        default="gene-sets",
        help="genes the model uses: the union of --gene-sets (default) or all; "
        "always only genes detected in >= --min-cells cells",
    )
    r.add_argument("--min-cells", type=int, default=3, help="minimum cells a gene is detected in")
    r.add_argument(
        "--min-size",
        type=int,
        default=5,
        help="gene sets with fewer genes among the model's genes are dropped",
    )
    r.add_argument("--n-latent", type=int, default=64, help="representation units (default 64)")
    r.add_argument(
        "--decoder",
        choices=list(DECODERS),
        default="additive",
        help="additive: one gene program per unit (default); mlp: the paper's decoder",
    )
    r.add_argument(
        "--center-input",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train the encoder on the centred input (default: yes for the additive decoder, "
        "no for mlp; tl.ortho_ae's center_input)",
    )
    r.add_argument(
        "--library-size",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="size-factor-aware model (default); --no-library-size is the paper's raw-count "
        "mode (the paper's model: --decoder mlp --no-library-size)",
    )
    r.add_argument(
        "--scale-units",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="give each additive unit its program's length after training (default; "
        "tl.ortho_ae's scale_units)",
    )
    r.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate (default: 2e-3 for the additive decoder, 1e-3 for mlp)",
    )
    r.add_argument(
        "--program-lr",
        type=float,
        default=1.0,
        help="the additive decoder's learning rate as a share of --lr (default 1)",
    )
    r.add_argument(
        "--tol",
        type=float,
        default=1e-3,
        help="early stopping: smallest improvement that counts, as a share of the validation "
        "loss's excess over the saturated model (default 1e-3; 0: any improvement)",
    )
    r.add_argument(
        "--saliency-method",
        choices=list(METHODS),
        default="gradient_x_centered",
        help="saliency of the units (tl.saliency's method; default gradient_x_centered; "
        "guided_x_input is several times faster on very large data)",
    )
    r.add_argument("--max-epochs", type=int, default=300, help="upper bound on training epochs")
    r.add_argument(
        "--runs",
        type=int,
        default=None,
        metavar="N",
        help="train N runs with other seeds and keep, as the model's units, the gene programs "
        "that come back in at least half of them, their activities refitted (the consensus "
        f"model, tl.ortho_ae(n_runs=N); about N+1 times a run's training). Default "
        f"{DEFAULT_RUNS} (1 with --decoder mlp, which has no programs); 1: a single run, fast "
        "but seed-dependent (its units' programs and labels change with the seed)",
    )
    r.add_argument(
        "--stability",
        type=int,
        default=0,
        metavar="N",
        help="with --runs 1: train N more runs and measure how often each unit of the single "
        "run comes back (tl.stability; units.csv, geneset_stability.csv); default 0",
    )
    r.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=run)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``scsaliency`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except CLIError as err:
        print(f"scsaliency: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
