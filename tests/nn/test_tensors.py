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
