"""Match the gene programs of two models unit by unit (numpy only).

A program is compared as the square root of the expected counts its unit adds per unit of
activity, L2-normalised: the square root keeps highly expressed genes from dominating the
cosine, as the Hellinger distance does for count profiles. Units are matched one to one by the
Hungarian assignment on cosine similarity, as cNMF (Kotliar et al. 2019) matches spectra.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def unit_rows(v: np.ndarray) -> np.ndarray:
    """``v`` (rows x genes) with each row scaled to length 1 (all-zero rows stay zero)."""
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def matched_cosines(reference: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each reference program, its one-to-one matched program in ``other`` and their cosine.

    Both are units x genes with rows of length 1 over the same genes. Returns the matched row
    of ``other`` per reference row and the cosine of the pair.
    """
    cos = reference @ other.T
    rows, cols = linear_sum_assignment(-cos)
    match = np.empty(len(reference), dtype=np.int64)
    match[rows] = cols
    return match, cos[np.arange(len(reference)), match]
