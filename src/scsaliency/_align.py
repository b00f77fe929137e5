"""Aligning a cell representation across batches: soft clusters that every batch shares.

The algorithm of Harmony (Korsunsky et al. 2019, Nat Methods 16:1289), written for this
package from the paper's description: cells (on the unit sphere) are clustered softly, with a
penalty on clusters that hold one batch more than its share, so that a cluster gathers cells of
a kind from every batch; within each cluster a ridge regression on the batches gives the
cluster's batch offsets, and each cell loses its clusters' offsets in proportion to its
membership. Clustering and correction alternate. The input is a matrix (cells x dimensions)
and one-hot batch columns; nothing here knows of AnnData or of the model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.cluster import KMeans

from ._matching import unit_rows


def default_clusters(n_cells: int) -> int:
    """Harmony's number of clusters: one per 30 cells, at most 100, at least 2."""
    return int(min(100, max(2, round(n_cells / 30))))


def _assign(
    dist: np.ndarray,
    phi: np.ndarray,
    r: np.ndarray,
    expected_share: np.ndarray,
    sigma: float,
    theta: float,
    rng: np.random.Generator,
    block: float,
) -> np.ndarray:
    """One pass of the soft assignments ``r`` (cells x clusters), block by block, in place.

    A cell's assignment to cluster k is ``exp(-dist / sigma)`` times, for each of its batches b,
    ``((E_kb + 1) / (O_kb + 1)) ** theta``: O is how many of the cluster's cells come from b, E
    how many would if the cluster held every batch at its share of all cells. The counts are
    updated as each block of cells moves, so a cluster that fills with one batch repels it.
    """
    scale = np.exp(-(dist - dist.min(axis=1, keepdims=True)) / sigma)
    observed = r.T @ phi  # clusters x batch columns
    size = r.sum(axis=0)
    n = len(r)
    step = max(1, int(np.ceil(block * n)))
    order = rng.permutation(n)
    for start in range(0, n, step):
        cells = order[start : start + step]
        observed -= r[cells].T @ phi[cells]
        size -= r[cells].sum(axis=0)
        expected = size[:, None] * expected_share[None, :]
        penalty = theta * np.log((expected + 1.0) / (observed + 1.0))
        new = scale[cells] * np.exp(phi[cells] @ penalty.T)
        r[cells] = new / new.sum(axis=1, keepdims=True)
        observed += r[cells].T @ phi[cells]
        size += r[cells].sum(axis=0)
    return r


def harmonize(
    rep: np.ndarray,
    phi: np.ndarray,
    *,
    n_clusters: int | None = None,
    theta: float = 2.0,
    sigma: float = 0.1,
    ridge: float = 1.0,
    max_iter: int = 10,
    cluster_iter: int = 20,
    block: float = 0.05,
    tol: float = 1e-4,
    random_state: int = 0,
    on_round: Callable[[], object] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """``rep`` (cells x dimensions) with each soft cluster's batch offsets removed.

    ``phi`` is cells x batch columns (one-hot, several covariates side by side: each column's
    batch is expected in a cluster at its share of all cells). Returns the corrected
    representation, the final soft assignments (cells x clusters) and the change of the
    corrected representation per round (relative Frobenius norm), whose last value is below
    ``tol`` when it converged. ``on_round`` is called after each round (a progress bar).
    """
    rep = np.asarray(rep, dtype=np.float64)
    phi = np.asarray(phi, dtype=np.float64)
    n = len(rep)
    k = n_clusters or default_clusters(n)
    rng = np.random.default_rng(random_state)
    expected_share = phi.mean(axis=0)  # each batch's share of all cells
    design = np.hstack([np.ones((n, 1)), phi])
    penalty = np.diag(np.r_[0.0, np.full(phi.shape[1], ridge)])  # no penalty on the intercept
    unit = unit_rows(rep)
    centres = KMeans(k, n_init=1, random_state=random_state % 2**32).fit(unit).cluster_centers_
    centres = unit_rows(centres)
    r = np.exp(-2 * (1 - unit @ centres.T) / sigma)
    r /= r.sum(axis=1, keepdims=True)
    corrected, changes = rep, []
    for _ in range(max_iter):
        for _ in range(cluster_iter):
            centres = unit_rows(r.T @ unit)
            dist = 2 * (1 - unit @ centres.T)
            before = r.copy()
            r = _assign(dist, phi, r, expected_share, sigma, theta, rng, block)
            if np.abs(r - before).max() < 1e-5:
                break
        new = rep.copy()
        for c in range(k):
            weighted = design * r[:, c : c + 1]
            coef = np.linalg.solve(design.T @ weighted + penalty, weighted.T @ rep)
            coef[0] = 0.0  # the cluster's own position stays; only its batch offsets go
            new -= weighted @ coef
        change = np.linalg.norm(new - corrected) / max(np.linalg.norm(corrected), 1e-12)
        corrected = new
        changes.append(float(change))
        unit = unit_rows(corrected)
        if on_round is not None:
            on_round()
        if change < tol:
            break
    return corrected, r, changes
