"""``scsaliency run``: from counts to an annotated .h5ad, tables, figures and a short report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from anndata import AnnData


class CLIError(Exception):
    """An input problem reported as one line, without a traceback."""


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
        return ad.read_h5ad(path)
    if spec in ("pbmc3k", "paul15"):
        try:
            return datasets.load(spec)
        except FileNotFoundError as err:
            raise CLIError(str(err)) from err
    raise CLIError(
        f"cannot read {spec!r}: give an .h5ad file, a 10x directory, or a data set name "
        "(pbmc3k, paul15)."
    )


def _gene_mask(adata: AnnData, how: str, gene_sets: list[str], min_cells: int) -> np.ndarray:
    from .genesets import as_dict

    detected = np.asarray((adata.X > 0).sum(0)).ravel() >= min_cells
    if how == "all" or not gene_sets:
        return detected
    union: set[str] = set()
    for g in gene_sets:
        union |= {x.upper() for genes in as_dict(g, adata.var_names).values() for x in genes}
    return detected & adata.var_names.str.upper().isin(union)


def run(args: argparse.Namespace) -> None:
    """The main job; see ``scsaliency run --help``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scanpy as sc

    from . import tl

    out = Path(args.out)
    adata = _read_input(args.input)
    if args.groupby is not None and args.groupby not in adata.obs.columns:
        raise CLIError(
            f"--groupby {args.groupby!r} is not a column of obs "
            f"(columns: {', '.join(adata.obs.columns)})."
        )
    if args.groupby is not None:
        adata = adata[adata.obs[args.groupby].notna()].copy()
    try:
        mask = _gene_mask(adata, args.genes, args.gene_sets, args.min_cells)
    except (KeyError, FileNotFoundError, ValueError) as err:
        raise CLIError(str(err).strip("'\"")) from err
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.quiet
    tl.ortho_ae(
        adata,
        mask_var=mask,
        n_latent=args.n_latent,
        random_state=args.seed,
        max_epochs=args.max_epochs,
        progress=progress,
    )

    # UMAP of the input (log-normalised counts, 50 PCs) next to UMAP of the representation.
    b = adata.copy()
    sc.pp.normalize_total(b, target_sum=1e4)
    sc.pp.log1p(b)
    sc.pp.pca(b, n_comps=min(50, b.n_vars - 1, b.n_obs - 1), mask_var=mask, random_state=args.seed)
    sc.pp.neighbors(b, random_state=args.seed)
    sc.tl.umap(b, random_state=args.seed)
    adata.obsm["X_umap_input"] = b.obsm["X_umap"]
    sc.pp.neighbors(adata, use_rep="X_ortho_ae", key_added="ortho_ae", random_state=args.seed)
    sc.tl.umap(adata, neighbors_key="ortho_ae", random_state=args.seed)
    adata.obsm["X_umap_ortho_ae"] = adata.obsm.pop("X_umap")
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
    for ax, basis, title in [
        (axes[0], "umap_input", "UMAP of the input (50 PCs)"),
        (axes[1], "umap_ortho_ae", "UMAP of the ortho_ae representation"),
    ]:
        sc.pl.embedding(
            adata,
            basis=basis,
            color=args.groupby,
            ax=ax,
            show=False,
            title=title,
            legend_loc="right margin" if ax is axes[1] else None,
        )
    fig.savefig(out / "umap.png", dpi=120)
    plt.close(fig)
    adata.write_h5ad(out / "adata.h5ad")
    if progress:
        print(f"wrote {out}/adata.h5ad and {out}/umap.png", file=sys.stderr)


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
        description="Train tl.ortho_ae on raw counts and write the annotated "
        ".h5ad and figures into --out.",
    )
    r.add_argument(
        "input",
        help="an .h5ad file, a 10x directory (matrix.mtx), or a data set "
        "name from data_manifest.yaml (pbmc3k, paul15)",
    )
    r.add_argument(
        "--gene-sets",
        action="append",
        default=[],
        metavar="NAME_OR_GMT",
        help="gene sets: 'hallmark', 'hallmark_human', 'hallmark_mouse', 'dmap' or a "
        ".gmt path; repeat for more",
    )
    r.add_argument("--groupby", default=None, help="obs column with cell groups to compare")
    r.add_argument("--out", required=True, help="output directory (created if missing)")
    r.add_argument(
        "--genes",
        choices=["gene-sets", "all"],
        default="gene-sets",
        help="genes the model uses: the union of --gene-sets (default) or all; "
        "always only genes detected in >= --min-cells cells",
    )
    r.add_argument("--min-cells", type=int, default=3, help="minimum cells a gene is detected in")
    r.add_argument("--n-latent", type=int, default=64, help="representation units (default 64)")
    r.add_argument("--max-epochs", type=int, default=300, help="upper bound on training epochs")
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
