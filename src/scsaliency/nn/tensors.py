"""AnnData matrices to torch tensors, a minibatch of cells at a time.

The matrix is never densified as a whole in host memory: in-memory sparse input keeps only the
used genes as CSR; dense and backed (``read_h5ad(..., backed="r")``) input are read row block
by row block, so memory grows with the genes and the model, not with the cells.

On a GPU, in-memory input is copied to the device once, when the first minibatch is asked for
(:meth:`CellMatrix.place`): dense when the dense used genes take at most
:data:`DEVICE_DENSE_SHARE` of the free device memory, else as CSR when that takes at most
:data:`DEVICE_CSR_SHARE`; minibatches are then gathered on the device, with no copy from the
host per minibatch. Backed input, and input too large for either, is streamed from the host.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch

#: Contiguous cells read at once from backed data when training shuffles.
BACKED_BLOCK = 8192

#: Largest share of the device's free memory a dense copy of the used genes may take.
DEVICE_DENSE_SHARE = 0.25

#: Largest share of the device's free memory a CSR copy of the used genes may take.
DEVICE_CSR_SHARE = 0.5

#: Minibatches gathered from a device copy at once.
GATHER_BATCHES = 32

#: Cells per host-to-device block when building a device copy.
_COPY_BLOCK = 16384


class Nonzero(NamedTuple):
    """Where a minibatch's counts are non-zero, in row-major order (as ``torch.nonzero``).

    ``flat`` indexes the minibatch's counts flattened (cells x genes), ``rows`` and ``cols``
    are its cell and gene, ``values`` the counts there. The sparse-aware Poisson loss
    (:meth:`~scsaliency.nn.network.AdditiveDecoder.poisson_nll`) takes the logarithm there
    only; read from a CSR matrix's structure it costs a fraction of finding them in the dense
    minibatch (``benchmarks/train_step.py``).
    """

    flat: torch.Tensor
    rows: torch.Tensor
    cols: torch.Tensor
    values: torch.Tensor

    @classmethod
    def of(cls, counts: torch.Tensor) -> Nonzero:
        """Found in a dense cells x genes tensor."""
        flat = counts.reshape(-1).nonzero().squeeze(1)
        n_genes = counts.shape[1]
        return cls(flat, flat // n_genes, flat % n_genes, counts.reshape(-1).index_select(0, flat))


class CellMatrix:
    """Row access to the used genes of a cells x genes matrix.

    Parameters
    ----------
    x
        Dense array, scipy sparse matrix, or a backed (h5py) dense or sparse dataset.
    genes
        Integer indices of the genes (columns) the model uses; ``-1`` for a model gene the
        matrix lacks, which enters as a column of zeros (a model applied to other data).
    covariates
        Cells x covariates (float, e.g. the one-hot batch of each cell), or ``None``. Minibatches
        from :meth:`batches` carry them as extra columns after the genes; :meth:`rows` does not.
    """

    def __init__(self, x, genes: np.ndarray, covariates: np.ndarray | None = None):
        genes = np.asarray(genes, dtype=np.int64)
        if covariates is not None:
            covariates = np.ascontiguousarray(covariates, dtype=np.float32)
            if covariates.ndim != 2 or len(covariates) != x.shape[0]:
                raise ValueError("covariates must be cells x covariates.")
            if covariates.shape[1] == 0:
                covariates = None
        self.covariates = covariates
        self.n_cov = 0 if covariates is None else covariates.shape[1]
        self._cov_device: torch.Tensor | None = None
        self.present = genes >= 0
        self._absent = not self.present.all()
        self.genes = genes[self.present]
        self.n_obs = x.shape[0]
        self.n_vars = len(genes)
        self.in_memory = sp.issparse(x) or isinstance(x, np.ndarray)
        self._device_copy: _DeviceCopy | None = None
        if sp.issparse(x):
            # One sparse copy of the used columns (none if all are used), CSR for row slicing.
            csr = (
                x.tocsr()
                if np.array_equal(self.genes, np.arange(x.shape[1]))
                else sp.csr_matrix(x[:, self.genes])
            )
            # Rows are gathered from the structure (:meth:`_gather`): sorted, summed
            # duplicates and no stored zeros, on a copy if the input is otherwise
            if not csr.has_canonical_format or not np.all(csr.data):
                csr = csr.copy()
                csr.sum_duplicates()
                csr.eliminate_zeros()
            self._x = csr
            # column j of the copy is model gene _where[j] (absent genes stay zero)
            self._where = np.flatnonzero(self.present)
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

    def _gather(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Of in-memory sparse input, cells ``idx`` as (dense block, rows, cols, values).

        ``rows``, ``cols`` and ``values`` are the block's non-zero entries in row-major order.
        Read from the CSR structure with numpy, in the order of ``idx``: a tenth of the time
        of scipy's row indexing and ``toarray`` for a 128-cell minibatch of PBMC 3k.
        """
        x = self._x
        start = x.indptr[idx]
        count = x.indptr[idx + 1] - start
        total = int(count.sum())
        rows = np.repeat(np.arange(len(idx), dtype=np.int64), count)
        src = np.repeat(start - (np.cumsum(count) - count), count) + np.arange(total)
        cols = self._where[x.indices[src]]
        values = x.data[src].astype(np.float32, copy=False)
        block = np.zeros((len(idx), self.n_vars), dtype=np.float32)
        block.reshape(-1)[rows * self.n_vars + cols] = values
        return block, rows, cols, values

    def rows(self, idx: np.ndarray | slice) -> np.ndarray:
        """Dense float32 block of the given cells (rows) and the used genes."""
        if self.is_sparse:
            idx = np.arange(self.n_obs)[idx] if isinstance(idx, slice) else np.asarray(idx)
            return self._gather(idx.astype(np.int64, copy=False))[0]
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

        The tensor holds the used genes, then the covariates (if any) as extra columns.

        With ``shuffle``, in-memory data is visited in a random permutation of ``cells``; backed
        data in blocks of :data:`BACKED_BLOCK` consecutive cells, block order and cells within
        a block shuffled, so each block is one contiguous read. On a GPU, in-memory data is
        gathered from a device copy (:meth:`place`); the cells and their order are the same.
        """
        batches = self._gene_batches(cells, batch_size, device=device, shuffle=shuffle)
        if self.covariates is None:
            yield from batches
            return
        for idx, x in batches:
            yield idx, torch.cat([x, self._covariates_of(idx, x.device)], dim=1)

    def count_batches(
        self,
        cells: np.ndarray,
        batch_size: int | None,
        *,
        device: torch.device | str = "cpu",
        shuffle: torch.Generator | None = None,
    ) -> Iterator[tuple[np.ndarray, torch.Tensor, Nonzero | None]]:
        """:meth:`batches` with each minibatch's :class:`Nonzero` where it comes for free.

        That is in-memory sparse input on the CPU, whose minibatches are gathered from the CSR
        structure; elsewhere the third item is ``None`` (the loss finds the non-zero counts
        itself, or, on CUDA, uses the dense formula). Same cells, order and tensors as
        :meth:`batches`.
        """
        if not (self.is_sparse and torch.device(device).type == "cpu"):
            for idx, x in self.batches(cells, batch_size, device=device, shuffle=shuffle):
                yield idx, x, None
            return
        cells, size = self._order(cells, batch_size, shuffle)
        for start in range(0, len(cells), size):
            idx = cells[start : start + size]
            block, rows, cols, values = self._gather(idx.astype(np.int64, copy=False))
            x = torch.from_numpy(block)
            if self.covariates is not None:
                x = torch.cat([x, self._covariates_of(idx, x.device)], dim=1)
            flat = torch.from_numpy(rows * self.n_vars + cols)
            nz = Nonzero(
                flat, torch.from_numpy(rows), torch.from_numpy(cols), torch.from_numpy(values)
            )
            yield idx, x, nz

    def _covariates_of(self, idx: np.ndarray, device: torch.device) -> torch.Tensor:
        """The covariates of cells ``idx`` on ``device`` (copied there once)."""
        if device.type == "cpu":
            return torch.from_numpy(self.covariates[idx])
        if self._cov_device is None or self._cov_device.device != device:
            self._cov_device = torch.from_numpy(self.covariates).to(device)
        return self._cov_device.index_select(0, torch.from_numpy(idx).to(device))

    def _order(
        self, cells: np.ndarray | None, batch_size: int | None, shuffle: torch.Generator | None
    ) -> tuple[np.ndarray, int]:
        """The cells in the order minibatches visit them, and the minibatch size.

        In-memory data is shuffled as a whole (one permutation of ``cells`` per call); backed
        data is shuffled block by block by :meth:`_gene_batches`.
        """
        cells = np.arange(self.n_obs) if cells is None else np.asarray(cells)
        size = max(len(cells) if batch_size is None else batch_size, 1)
        if shuffle is not None and self.in_memory:
            cells = cells[torch.randperm(len(cells), generator=shuffle).numpy()]
        return cells, size

    def _gene_batches(
        self,
        cells: np.ndarray | None,
        batch_size: int | None,
        *,
        device: torch.device | str,
        shuffle: torch.Generator | None,
    ) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """:meth:`batches` of the genes alone."""
        cells, size = self._order(cells, batch_size, shuffle)
        copy = self.place(device)
        if copy is not None:
            on_device = torch.from_numpy(cells).to(copy.device)
            # Gathered :data:`GATHER_BATCHES` minibatches at a time: a CSR gather waits once
            # for the device to size its output, and each gather is a dozen small kernels.
            block = size * GATHER_BATCHES
            for first in range(0, len(cells), block):
                rows = copy.rows(on_device[first : first + block])
                for start in range(0, len(rows), size):
                    yield cells[first + start : first + start + size], rows[start : start + size]
            return
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

    def place(self, device: torch.device | str) -> _DeviceCopy | None:
        """The device copy minibatches are gathered from, made on first use; ``None``: stream.

        Only CUDA devices get a copy, and only of in-memory input: dense when it takes at most
        :data:`DEVICE_DENSE_SHARE` of the free device memory, else CSR when that takes at most
        :data:`DEVICE_CSR_SHARE`. The layout is recorded in :attr:`device_layout`.
        """
        device = torch.device(device)
        if device.type != "cuda" or not self.in_memory:
            return None
        if self._device_copy is not None and self._device_copy.device == device:
            return self._device_copy
        free = torch.cuda.mem_get_info(device)[0]
        dense_bytes = 4 * self.n_obs * self.n_vars
        nnz = self._x.nnz if self.is_sparse else None
        if dense_bytes <= DEVICE_DENSE_SHARE * free:
            self._device_copy = _DeviceCopy.dense(self, device)
        elif nnz is not None and 12 * nnz + 8 * (self.n_obs + 1) <= DEVICE_CSR_SHARE * free:
            self._device_copy = _DeviceCopy.csr(self, device)
        else:
            return None
        return self._device_copy

    @property
    def device_layout(self) -> str:
        """``"dense"`` or ``"csr"`` when minibatches come from a device copy, else ``"stream"``."""
        return "stream" if self._device_copy is None else self._device_copy.layout


class _DeviceCopy:
    """The used genes of an in-memory matrix on a device, dense or CSR, gathered by rows."""

    def __init__(self, layout: str, device: torch.device, n_vars: int, tensors: tuple):
        self.layout, self.device, self.n_vars, self._t = layout, device, n_vars, tensors

    @classmethod
    def dense(cls, data: CellMatrix, device: torch.device) -> _DeviceCopy:
        out = torch.empty(data.n_obs, data.n_vars, dtype=torch.float32, device=device)
        for start in range(0, data.n_obs, _COPY_BLOCK):
            stop = min(start + _COPY_BLOCK, data.n_obs)
            out[start:stop] = torch.from_numpy(data.rows(slice(start, stop))).to(device)
        return cls("dense", device, data.n_vars, (out,))

    @classmethod
    def csr(cls, data: CellMatrix, device: torch.device) -> _DeviceCopy:
        x = data._x  # CSR of the used genes, in the order of ``data.genes``
        # Column j of ``x`` is model gene ``where[j]`` (model genes the matrix lacks stay zero).
        where = data._where
        as_t = lambda a, dt: torch.as_tensor(a, dtype=dt).to(device)  # noqa: E731
        return cls(
            "csr",
            device,
            data.n_vars,
            (
                as_t(x.indptr, torch.int64),
                as_t(where[x.indices], torch.int64),
                as_t(x.data, torch.float32),
            ),
        )

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        """Dense float32 rows ``idx`` (a device tensor of cell indices)."""
        if self.layout == "dense":
            return self._t[0].index_select(0, idx)
        ptr, col, val = self._t
        start = ptr.index_select(0, idx)
        count = ptr.index_select(0, idx + 1) - start
        total = int(count.sum())  # one host sync per gather: the size of its output
        row = torch.repeat_interleave(
            torch.arange(len(idx), device=idx.device), count, output_size=total
        )
        first = torch.repeat_interleave(torch.cumsum(count, 0) - count, count, output_size=total)
        src = start.index_select(0, row) + torch.arange(total, device=idx.device) - first
        out = torch.zeros(len(idx), self.n_vars, dtype=torch.float32, device=idx.device)
        # (row, column) pairs are unique, so the write is deterministic
        out.index_put_((row, col.index_select(0, src)), val.index_select(0, src))
        return out


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as torch understands it.

    Names torch does not know and CUDA devices this machine lacks are refused here, with a
    message that says what there is, before any computation.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"device={device!r} is not a device: use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'."
        ) from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0 or (dev.index is not None and dev.index >= n):
            raise ValueError(
                f"device={device!r}, but this machine has {n} CUDA device(s) that torch can use; "
                "use device='auto' (CUDA when there is one, else CPU) or 'cpu'."
            )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r}, but MPS is not available here; use 'cpu'.")
    return dev
