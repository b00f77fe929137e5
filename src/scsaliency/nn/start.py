"""A data-driven start for the additive decoder's gene programs.

Non-negative matrix factorisation is started from the data's principal axes (NNDSVD); the
additive decoder is started from the same axes, rotated by varimax so that each axis loads on
few genes (a co-varying gene set, not a contrast of many), and cut to its positive part. The
programs then start near the data's co-varying gene sets instead of all equal, and weak
programs are found that a flat start leaves in the baseline (``benchmarks/modules.py``).

Numpy only; knows nothing of torch modules or AnnData.
"""

from __future__ import annotations

import numpy as np

from .tensors import BACKED_BLOCK, CellMatrix

#: Cells the principal axes are computed on (a random sample of the training cells).
N_CELLS = 2000

#: How the additive decoder's programs may start (``tl.ortho_ae(program_init=)``).
PROGRAM_INITS = ("varimax", "flat")


def varimax(loadings: np.ndarray, max_iter: int = 100, tol: float = 1e-6) -> np.ndarray:
    """Varimax rotation (Kaiser 1958) of a genes x axes loading matrix."""
    p, k = loadings.shape
    rot = np.eye(k)
    crit = 0.0
    for _ in range(max_iter):
        lr = loadings @ rot
        u, s, vt = np.linalg.svd(loadings.T @ (lr**3 - lr * ((lr**2).sum(0) / p)))
        rot = u @ vt
        crit_old, crit = crit, s.sum()
        if crit_old and crit < crit_old * (1 + tol):
            break
    return loadings @ rot


def top_axes(y: np.ndarray, k: int, rng: np.random.Generator, n_iter: int = 4):
    """Top ``k`` singular values and right singular vectors of ``y`` (randomised SVD)."""
    q = np.linalg.qr(y @ rng.standard_normal((y.shape[1], k + 10)).astype(y.dtype))[0]
    for _ in range(n_iter):
        q = np.linalg.qr(y.T @ q)[0]
        q = np.linalg.qr(y @ q)[0]
    _, s, vt = np.linalg.svd(q.T @ y, full_matrices=False)
    return s[:k], vt[:k]


def sampled_cells(data: CellMatrix, cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Up to :data:`N_CELLS` of ``cells``, drawn at random, sorted.

    Backed data is sampled as a few random runs of consecutive cells, so that no read spans
    the file.
    """
    cells = np.sort(np.asarray(cells))
    if len(cells) <= N_CELLS:
        return cells
    if data.in_memory:
        return np.sort(rng.choice(cells, N_CELLS, replace=False))
    run = max(N_CELLS // 8, 1)
    # 8 of the non-overlapping runs the cells fall into (len(cells) > N_CELLS >= 8 runs)
    starts = run * np.sort(rng.choice(len(cells) // run, 8, replace=False))
    return np.concatenate([cells[s : s + run] for s in starts])


def sample_counts(data: CellMatrix, cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dense counts of :func:`sampled_cells`."""
    return counts_of(data, sampled_cells(data, cells, rng))


def batch_means(values: np.ndarray, onehot: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Batches x columns: each batch's mean of ``values`` minus the mean over all cells.

    ``onehot`` (cells x batches) holds the cells' batches of every covariate side by side,
    ``group`` says which covariate each batch column belongs to. Subtracting the rows of a
    cell's batches centres ``values`` per batch (exactly so for one covariate).
    """
    n = onehot.sum(0)
    means = (onehot.T @ values) / np.maximum(n, 1)[:, None]
    return np.where(n[:, None] > 0, means - values.mean(0), 0.0)


def program_profiles(
    data: CellMatrix,
    cells: np.ndarray,
    n_programs: int,
    *,
    median_total: float,
    rng: np.random.Generator,
    covariates: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Non-negative gene profiles (at most ``n_programs`` x genes) to start programs from.

    On a sample of ``cells``: ``log1p(counts / s)`` (what the library-size-aware encoder
    sees; used whatever the encoder's input, since on raw counts library size would lead the
    axes), each gene centred and scaled to unit variance; its top principal axes,
    varimax-rotated; each axis signed so that its heavy tail is positive, and cut to its
    positive part. Axes that are all zero after the cut are dropped. With ``covariates``
    (``(cells x batches one-hot, covariate of each batch column)``), each gene is centred per
    batch first, so that the axes follow what varies within batches, not between them.
    """
    pick = sampled_cells(data, cells, rng)
    x = counts_of(data, pick).astype(np.float64)
    s = x.sum(1, keepdims=True).clip(1.0) / median_total
    y = np.log1p(x / s)
    if covariates is not None:
        onehot = covariates[0][pick]
        y -= onehot @ batch_means(y, onehot, covariates[1])
    y -= y.mean(0)
    y /= np.maximum(y.std(0), 1e-3)
    k = min(n_programs, *y.shape)
    sv, vt = top_axes(y, k, rng)
    rotated = varimax(vt.T * sv)
    rotated *= np.where((rotated**3).sum(0) < 0, -1.0, 1.0)
    profiles = np.maximum(rotated.T, 0.0)
    return profiles[profiles.sum(1) > 0]


def counts_of(data: CellMatrix, pick: np.ndarray) -> np.ndarray:
    """Dense counts of the sorted cells ``pick`` (backed data read in blocks)."""
    if data.in_memory:
        return data.rows(pick)
    chunks = range(0, len(pick), BACKED_BLOCK)
    return np.concatenate([data.rows(pick[i : i + BACKED_BLOCK]) for i in chunks])
