"""How many units (issue 28): tl.n_latent_scan on PBMC 3k, stability and validation loss per K.

PBMC 3k (2,638 labelled cells; Hallmark + 7 marker set genes), 3 runs per candidate; stability is
the median over pairs of runs of the median matched program cosine, stable_share the mean share of
units above 0.8, val_loss the mean best validation loss.
Run: SCSALIENCY_DATA_DIR=../shared/data python benchmarks/n_latent.py
"""

from __future__ import annotations

import warnings

from _common import pbmc_hallmark

import scsaliency as ss

warnings.filterwarnings("ignore")


def main():
    markers = ss.datasets.pbmc_markers()
    adata = pbmc_hallmark(extra_genes=[g for s in markers.values() for g in s])
    ss.tl.n_latent_scan(adata, (16, 32, 48, 64, 96), n_runs=3, progress=False)
    table = adata.uns["n_latent_scan"]["table"]
    print(f"# {adata.n_obs} cells x {adata.n_vars} genes, 3 runs per candidate")
    print("| n_latent | stability | stable_share | val_loss | s per run |")
    print("|---:|---:|---:|---:|---:|")
    for r in table.itertuples():
        print(
            f"| {r.n_latent} | {r.stability:.3f} | {r.stable_share:.2f} | {r.val_loss:.5f} | "
            f"{r.seconds:.1f} |"
        )


if __name__ == "__main__":
    main()
