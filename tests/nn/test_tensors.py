"""Cells of a matrix as tensors: backed rows, device copies."""

import anndata as ad
import numpy as np
import pytest

import scsaliency as ss
from scsaliency.nn import tensors as _data


def test_cell_matrix_backed_rows(tmp_path):
    a = ss.datasets.synthetic(n_cells=50, n_genes=200, random_state=0)
    a.write_h5ad(tmp_path / "a.h5ad")
    b = ad.read_h5ad(tmp_path / "a.h5ad", backed="r")
    genes = np.array([3, 1, 7])
    m_mem, m_bk = _data.CellMatrix(a.X, genes), _data.CellMatrix(b.X, genes)
    idx = np.array([9, 2, 30])
    np.testing.assert_array_equal(m_bk.rows(idx), m_mem.rows(idx))
    np.testing.assert_array_equal(m_bk.rows(idx), a.X[idx][:, genes].toarray())


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_device_copy_gathers_the_host_rows(layout):
    """The gather a GPU uses (tests/test_cuda.py runs it there), checked here on the CPU."""
    import torch

    rng = np.random.default_rng(0)
    a = ss.datasets.synthetic(n_cells=300, n_genes=400, random_state=0)
    genes = np.r_[rng.permutation(400)[:100], -1]  # -1: a model gene the data lacks
    data = _data.CellMatrix(a.X, genes)
    copy = getattr(_data._DeviceCopy, layout)(data, torch.device("cpu"))
    cells = rng.permutation(300)[:120]
    got = copy.rows(torch.as_tensor(cells)).numpy()
    np.testing.assert_array_equal(got, data.rows(cells))
    assert got[:, -1].sum() == 0 and got.sum() > 0


def test_no_device_copy_on_the_cpu():
    a = ss.datasets.synthetic(n_cells=50, n_genes=400, random_state=0)
    data = _data.CellMatrix(a.X, np.arange(40))
    next(data.batches(None, 16, device="cpu"))
    assert data.place("cpu") is None and data.device_layout == "stream"


def test_count_batches_read_the_non_zeros_from_the_csr_structure():
    """The CSR gather gives :meth:`batches`' tensors and ``torch.nonzero``'s entries, in order.

    On input with duplicate entries, stored zeros, unsorted columns, a gene the data lack and
    covariates; the input matrix is left as it was.
    """
    import scipy.sparse as sp
    import torch

    rng = np.random.default_rng(0)
    a = ss.datasets.synthetic(n_cells=120, n_genes=300, random_state=0)
    x = a.X.tocoo()
    # a duplicate of every tenth entry and a stored zero, in a CSR matrix with unsorted columns
    dup = np.arange(0, x.nnz, 10)
    rows = np.r_[x.row, x.row[dup], 5]
    cols = np.r_[x.col, x.col[dup], 7]
    vals = np.r_[x.data, x.data[dup], 0.0].astype(np.float32)
    order = rng.permutation(len(rows))
    messy = sp.csr_matrix((vals[order], (rows[order], cols[order])), shape=x.shape)
    messy.has_canonical_format = False
    before = (messy.data.copy(), messy.indices.copy(), messy.indptr.copy())
    genes = np.r_[rng.permutation(300)[:80], -1]
    covariates = rng.integers(0, 2, size=(120, 2)).astype(np.float32)
    data = _data.CellMatrix(messy, genes, covariates=covariates)
    cells = rng.permutation(120)[:100]
    plain = list(data.batches(cells, 32, shuffle=torch.Generator().manual_seed(3)))
    counted = list(data.count_batches(cells, 32, shuffle=torch.Generator().manual_seed(3)))
    assert len(plain) == len(counted) == 4
    dense = messy.toarray()
    for (idx, x_plain), (idx2, x, nz) in zip(plain, counted, strict=True):
        np.testing.assert_array_equal(idx, idx2)
        assert torch.equal(x, x_plain)
        expect = np.c_[dense[idx][:, genes[:-1]], np.zeros(len(idx)), covariates[idx]]
        np.testing.assert_array_equal(x.numpy(), expect)
        found = _data.Nonzero.of(x[:, :81])
        for got, want in zip(nz, found, strict=True):
            assert torch.equal(got, want)
    for kept, was in zip((messy.data, messy.indices, messy.indptr), before, strict=True):
        np.testing.assert_array_equal(kept, was)


def test_count_batches_without_csr_find_nothing_in_advance():
    a = ss.datasets.synthetic(n_cells=40, n_genes=400, random_state=0)
    data = _data.CellMatrix(a.X.toarray(), np.arange(50))
    assert all(nz is None for _, _, nz in data.count_batches(np.arange(40), 16))
