"""The data-driven start of the additive decoder's programs."""

import anndata as ad
import numpy as np

from scsaliency.nn import start as _init
from scsaliency.nn.start import program_profiles, varimax
from scsaliency.nn.tensors import CellMatrix

from ..conftest import independent_programs


def test_varimax_recovers_sparse_loadings_from_a_rotation():
    rng = np.random.default_rng(0)
    blocks = np.kron(np.eye(4), np.ones((10, 1)))  # 40 genes, 4 axes, 10 genes each
    rot = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    back = varimax(blocks @ rot)
    # each rotated axis loads on exactly one block (up to sign and order)
    match = np.abs(back.T @ blocks) / 10
    np.testing.assert_allclose(np.sort(match.max(1)), 1.0, atol=1e-4)
    assert sorted(match.argmax(1)) == [0, 1, 2, 3]


def test_program_profiles_start_near_planted_programs():
    a = independent_programs(n_cells=1500)
    data = CellMatrix(a.X, np.arange(a.n_vars))
    totals = np.asarray(a.X.sum(1)).ravel()
    rng = np.random.default_rng(0)
    prof = program_profiles(
        data, np.arange(a.n_obs), 8, median_total=float(np.median(totals)), rng=rng
    )
    assert prof.shape[1] == a.n_vars and 1 <= len(prof) <= 8 and (prof >= 0).all()
    sets = a.uns["synthetic"]["gene_sets"]
    for p in range(4):
        genes = a.var_names.get_indexer(sets.loc[sets["source"] == f"program{p}", "target"])
        top = np.argsort(-prof, axis=1)[:, : len(genes)]
        # some profile has most of the program's genes as its top genes
        assert max(len(set(t) & set(genes)) for t in top) >= 0.7 * len(genes)


def test_program_profiles_sample_backed_data_in_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(_init, "N_CELLS", 40)
    a = independent_programs(n_cells=400)
    a.write_h5ad(tmp_path / "a.h5ad")
    b = ad.read_h5ad(tmp_path / "a.h5ad", backed="r")
    data = CellMatrix(b.X, np.arange(a.n_vars))
    x1 = _init.sample_counts(data, np.arange(400), np.random.default_rng(1))
    x2 = _init.sample_counts(data, np.arange(400), np.random.default_rng(1))
    assert x1.shape == (40, a.n_vars)
    np.testing.assert_array_equal(x1, x2)
