"""The ``scsaliency`` command's arguments."""

from __future__ import annotations

import argparse

from ..nn.gradients import METHODS
from ..nn.network import DECODERS
from ._pipeline import DEFAULT_RUNS, run


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
