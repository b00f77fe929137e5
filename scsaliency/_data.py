"""AnnData matrices to torch tensors, a minibatch of cells at a time.

The matrix is never densified as a whole: sparse input keeps only the used genes as CSR, dense
and backed input are read row block by row block.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
import torch


class CellMatrix:
    """Row access to the used genes of a cells x genes matrix.

    Parameters
    ----------
    x
        Dense array, scipy sparse matrix, or an h5py-backed dataset/sparse dataset.
    genes
        Integer indices of the genes (columns) the model uses.
    """

    def __init__(self, x, genes: np.ndarray):
        self.genes = np.asarray(genes, dtype=np.int64)
        self.n_obs = x.shape[0]
        self.n_vars = len(self.genes)
        if sp.issparse(x):
            # One sparse copy of the used columns, in CSR for fast row slicing.
            self._x = sp.csr_matrix(x[:, self.genes]) if len(self.genes) < x.shape[1] else x.tocsr()
            self._all_genes = True
        else:
            self._x = x
            self._all_genes = len(self.genes) == x.shape[1]

    @property
    def is_sparse(self) -> bool:
        """Whether rows come from a sparse matrix."""
        return sp.issparse(self._x)

    def rows(self, idx: np.ndarray | slice) -> np.ndarray:
        """Dense float32 block of the given cells (rows) and the used genes."""
        if isinstance(idx, np.ndarray):
            # h5py and some array types want sorted indices; restore the order afterwards.
            order = np.argsort(idx, kind="stable")
            block = self._x[idx[order]]
            inverse = np.empty_like(order)
            inverse[order] = np.arange(len(order))
        else:
            block = self._x[idx]
            inverse = None
        block = block.toarray() if sp.issparse(block) else np.asarray(block)
        if not self._all_genes:
            block = block[:, self.genes]
        if inverse is not None:
            block = block[inverse]
        return np.ascontiguousarray(block, dtype=np.float32)

    def batches(
        self,
        cells: np.ndarray | None = None,
        batch_size: int | None = 256,
        *,
        device: torch.device | str = "cpu",
    ) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Yield ``(cell_indices, dense tensor)`` for consecutive blocks of ``cells``."""
        if cells is None:
            cells = np.arange(self.n_obs)
        size = len(cells) if batch_size is None else batch_size
        for start in range(0, len(cells), max(size, 1)):
            idx = cells[start : start + size]
            # Contiguous ranges are read as slices (fast for backed data).
            if len(idx) and idx[-1] - idx[0] == len(idx) - 1 and np.all(np.diff(idx) == 1):
                block = self.rows(slice(int(idx[0]), int(idx[-1]) + 1))
            else:
                block = self.rows(idx)
            yield idx, torch.from_numpy(block).to(device, non_blocking=True)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as torch understands it."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
