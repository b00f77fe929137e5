"""AnnData matrices to torch tensors, a minibatch of cells at a time.

The matrix is never densified as a whole: in-memory sparse input keeps only the used genes as
CSR; dense and backed (``read_h5ad(..., backed="r")``) input are read row block by row block,
so memory grows with the genes and the model, not with the cells.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
import torch

#: Contiguous cells read at once from backed data when training shuffles.
BACKED_BLOCK = 8192


class CellMatrix:
    """Row access to the used genes of a cells x genes matrix.

    Parameters
    ----------
    x
        Dense array, scipy sparse matrix, or a backed (h5py) dense or sparse dataset.
    genes
        Integer indices of the genes (columns) the model uses; ``-1`` for a model gene the
        matrix lacks, which enters as a column of zeros (a model applied to other data).
    """

    def __init__(self, x, genes: np.ndarray):
        genes = np.asarray(genes, dtype=np.int64)
        self.present = genes >= 0
        self._absent = not self.present.all()
        self.genes = genes[self.present]
        self.n_obs = x.shape[0]
        self.n_vars = len(genes)
        self.in_memory = sp.issparse(x) or isinstance(x, np.ndarray)
        if sp.issparse(x):
            # One sparse copy of the used columns (none if all are used), CSR for row slicing.
            self._x = (
                x.tocsr()
                if np.array_equal(self.genes, np.arange(x.shape[1]))
                else sp.csr_matrix(x[:, self.genes])
            )
            self._all_genes = True
        else:
            self._x = x
            self._all_genes = len(self.genes) == x.shape[1] and np.all(
                self.genes == np.arange(x.shape[1])
            )

    @property
    def is_sparse(self) -> bool:
        """Whether rows come from an in-memory sparse matrix."""
        return sp.issparse(self._x)

    def _read(self, idx: np.ndarray | slice):
        if isinstance(idx, slice) or self.in_memory:
            return self._x[idx]
        # Backed data: one contiguous read covering the rows beats many small ones.
        lo, hi = int(idx[0]), int(idx[-1]) + 1
        block = self._x[lo:hi]
        return block[idx - lo]

    def rows(self, idx: np.ndarray | slice) -> np.ndarray:
        """Dense float32 block of the given cells (rows) and the used genes."""
        if isinstance(idx, np.ndarray):
            order = np.argsort(idx, kind="stable")
            block = self._read(idx[order])
            inverse = np.empty_like(order)
            inverse[order] = np.arange(len(order))
        else:
            block = self._read(idx)
            inverse = None
        block = block.toarray() if sp.issparse(block) else np.asarray(block)
        if not self._all_genes:
            block = block[:, self.genes]
        if inverse is not None:
            block = block[inverse]
        if self._absent:
            full = np.zeros((block.shape[0], self.n_vars), dtype=np.float32)
            full[:, self.present] = block
            return full
        return np.ascontiguousarray(block, dtype=np.float32)

    def _read_batch(self, idx: np.ndarray) -> np.ndarray:
        if len(idx) and idx[-1] - idx[0] == len(idx) - 1 and np.all(np.diff(idx) == 1):
            return self.rows(slice(int(idx[0]), int(idx[-1]) + 1))
        return self.rows(idx)

    def batches(
        self,
        cells: np.ndarray | None = None,
        batch_size: int | None = 256,
        *,
        device: torch.device | str = "cpu",
        shuffle: torch.Generator | None = None,
    ) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Yield ``(cell_indices, dense tensor)`` over ``cells`` (default: all), in minibatches.

        With ``shuffle``, in-memory data is visited in a random permutation of ``cells``; backed
        data in blocks of :data:`BACKED_BLOCK` consecutive cells, block order and cells within
        a block shuffled, so each block is one contiguous read.
        """
        cells = np.arange(self.n_obs) if cells is None else np.asarray(cells)
        size = max(len(cells) if batch_size is None else batch_size, 1)
        if shuffle is not None and self.in_memory:
            cells = cells[torch.randperm(len(cells), generator=shuffle).numpy()]
        if shuffle is None or self.in_memory:
            for start in range(0, len(cells), size):
                idx = cells[start : start + size]
                yield idx, torch.from_numpy(self._read_batch(idx)).to(device)
            return
        cells = np.sort(cells)
        starts = np.arange(0, len(cells), BACKED_BLOCK)
        for b in torch.randperm(len(starts), generator=shuffle).numpy():
            block_cells = cells[starts[b] : starts[b] + BACKED_BLOCK]
            block = torch.from_numpy(self.rows(block_cells))
            perm = torch.randperm(len(block_cells), generator=shuffle)
            for start in range(0, len(block_cells), size):
                sel = perm[start : start + size]
                yield block_cells[sel.numpy()], block[sel].to(device)


def model_counts(adata, genes: np.ndarray, layer: str | None) -> CellMatrix:
    """The counts of ``genes`` (``-1``: absent) from ``X`` or ``layer``, checked to be counts.

    Sparse input is checked on the used columns only; dense and backed input in row chunks.
    """
    from . import _input

    x = _input.get_matrix(adata, layer)
    data = CellMatrix(x, genes)
    _input.check_counts(data._x if data.is_sparse else x, what=_input.matrix_name(layer))
    return data


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as torch understands it."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
