"""tl.ortho_ae on PBMC 3k: clustering quality, training time, orthogonality (issue 2).

Cells: the 2,638 labelled PBMC 3k cells; genes: the human Hallmark union detected in >= 3 cells.
Run: SCSALIENCY_DATA_DIR=../shared/data python benchmarks/ortho_ae_pbmc3k.py
"""

import platform
import time

import numpy as np
import torch
from _common import kmeans_nmi, pbmc_hallmark, pca_reference

import scsaliency as ss


def unit_offdiag_corr(z: np.ndarray) -> float:
    c = np.corrcoef(z.T)
    c = np.nan_to_num(c)
    return float(np.abs(c[~np.eye(len(c), dtype=bool)]).mean())


def main(train_seeds=(0, 1, 2)):
    adata = pbmc_hallmark()
    labels = adata.obs["cell_type"].to_numpy()
    lib = np.asarray(adata.X.sum(1)).ravel()
    print(
        f"# {adata.n_obs} cells x {adata.n_vars} genes; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
    )

    pca = kmeans_nmi(pca_reference(adata), labels)
    print(
        f"PCA(50) on log-normalised counts: NMI {np.mean(pca):.3f} +- {np.std(pca):.3f} "
        "(KMeans, 5 seeds)"
    )

    rows = {}
    for mode, kw in [
        ("library_size=True (default)", {}),
        ("library_size=False (paper)", {"library_size": False}),
        ("n_hidden=256", {"n_hidden": 256}),
    ]:
        nmis, times, epochs, libcorr = [], [], [], []
        for seed in train_seeds:
            t = time.perf_counter()
            ss.tl.ortho_ae(adata, random_state=seed, progress=False, **kw)
            times.append(time.perf_counter() - t)
            z = adata.obsm["X_ortho_ae"]
            nmis += kmeans_nmi(z, labels)
            epochs.append(adata.uns["ortho_ae"]["params"]["n_epochs"])
            libcorr.append(
                np.nanmax(np.abs([np.corrcoef(z[:, k], lib)[0, 1] for k in range(z.shape[1])]))
            )
        rows[mode] = nmis
        print(
            f"ortho_ae {mode}: NMI {np.mean(nmis):.3f} +- {np.std(nmis):.3f} "
            f"({len(train_seeds)} training seeds x 5 KMeans seeds); "
            f"train time {np.mean(times):.1f} s (max {np.max(times):.1f} s) to early stop at "
            f"{np.mean(epochs):.0f} epochs; max |corr(unit, total counts)| {np.mean(libcorr):.2f}"
        )

    default = np.mean(rows["library_size=True (default)"])
    print(f"NMI ortho_ae (default) - PCA: {default - np.mean(pca):+.3f}")

    for w in (0.0, 0.1):
        pens, corrs = [], []
        for seed in train_seeds:
            ss.tl.ortho_ae(adata, ortho_weight=w, random_state=seed, progress=False)
            pens.append(adata.uns["ortho_ae"]["history"]["ortho_penalty"].iloc[-1])
            corrs.append(unit_offdiag_corr(adata.obsm["X_ortho_ae"]))
        print(
            f"ortho_weight={w}: ||I - W W^T||_F {np.mean(pens):.3f}; mean |off-diagonal "
            f"corr| of units {np.mean(corrs):.3f}"
        )


if __name__ == "__main__":
    main()
