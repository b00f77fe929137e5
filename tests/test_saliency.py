import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
import torch

import scsaliency as ss
from scsaliency._data import CellMatrix
from scsaliency._saliency import METHODS, cell_saliency, reference_saliency, saliency_pass
from scsaliency.module import OrthoAE


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    m = OrthoAE(12, 6, 4)
    with torch.no_grad():  # wide weights so that clipping happens often
        for lin in m.linears:
            lin.weight.normal_(0, 0.7)
    x = torch.poisson(torch.full((9, 12), 1.0))
    return m, x


def test_guided_rule_by_hand(tiny):
    m, x = tiny
    x_in = m.network_input(x, m.size_factors(x))
    l1, l2 = m.encoder_linears
    z1 = l1(x_in)
    z2 = l2(torch.nn.functional.softplus(z1))
    k = 2
    # d unit_k / d h1, clipped at 0, times softplus'(z1), then back through W1.
    g_h1 = torch.sigmoid(z2[:, k : k + 1]) * l2.weight[k]
    g_x = (g_h1.clamp_min(0) * torch.sigmoid(z1)) @ l1.weight
    got = cell_saliency(m, x, "guided")[:, k]
    torch.testing.assert_close(got, g_x.abs().detach())
    plain = (g_h1 * torch.sigmoid(z1)) @ l1.weight
    torch.testing.assert_close(cell_saliency(m, x, "gradient")[:, k], plain.abs().detach())
    assert not torch.allclose(g_x, plain)  # clipping mattered in this network


def test_centered_is_gradient_times_deviation(tiny):
    m, x = tiny
    x = x.clone()
    x[:, [3, 5]] = 0  # a gene no cell expresses, and one at the same level in every cell
    x[:, 5] = x.sum(1) / 9  # after normalisation (a tenth of each cell's counts)
    x_in = m.network_input(x, m.size_factors(x))
    torch.testing.assert_close(x_in[:, 5], x_in[0, 5].expand(len(x)))
    got = cell_saliency(m, x, "gradient_x_centered")
    grad = cell_saliency(m, x, "gradient")  # |J|
    deviation = (x_in - x_in.mean(0)).abs().unsqueeze(1)
    torch.testing.assert_close(got, grad * deviation)
    assert got[:, :, [3, 5]].abs().max() < 1e-5  # no deviation, no saliency
    assert grad[:, :, [3, 5]].min() > 0  # although the gradient is there
    # a fixed reference replaces the mean of the cells given
    ref = torch.zeros(x.shape[1])
    plain_x_input = grad * x_in.abs().unsqueeze(1)
    torch.testing.assert_close(cell_saliency(m, x, "gradient_x_centered", ref), plain_x_input)


@pytest.mark.parametrize("method", METHODS)
def test_against_autograd(tiny, method):
    m, x = tiny
    torch.testing.assert_close(cell_saliency(m, x, method), reference_saliency(m, x, method))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_pass_equals_mean_of_cell_maps(tiny, method, fmt):
    m, x = tiny
    xn = x.numpy()
    data = CellMatrix(sp.csr_matrix(xn) if fmt == "csr" else xn, np.arange(12))
    codes = np.array([0, 1, 0, 1, -1, 0, 1, 0, 1])
    proj = np.random.default_rng(0).random((12, 3)).astype(np.float32)
    r = saliency_pass(
        m, data, method, groups=codes, n_groups=2, projection=proj, batch_size=4, progress=False
    )
    cell = cell_saliency(m, x, method).numpy()  # cells x units x genes
    for g in (0, 1):
        np.testing.assert_allclose(r.group_sums[g], cell[codes == g].sum(0).T, rtol=1e-5, atol=1e-6)
        per_cell = cell[codes == g] @ proj  # cells x units x sets
        np.testing.assert_allclose(r.proj_sum[g], per_cell.sum(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(r.proj_sumsq[g], (per_cell**2).sum(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(r.group_n, [4, 4])


def test_tl_saliency_keys_and_fill(trained):
    a = trained.copy()
    a.var["use"] = True
    ss.tl.saliency(a, progress=False)
    m = a.varm["saliency"]
    assert m.shape == (a.n_vars, 8) and m.dtype == np.float32
    used = a.var_names.isin(a.uns["ortho_ae"]["var_names"])
    assert np.isfinite(m[used]).all() and (m[used] >= 0).all()
    assert np.isnan(m[~used]).all()
    assert a.uns["saliency"]["params"] == {"model_key": "ortho_ae", "method": "gradient_x_centered"}


def test_tl_saliency_groupby_maps_average_to_whole(trained):
    a = trained.copy()
    ss.tl.saliency(a, groupby="group", method="guided", progress=False)
    e = a.uns["saliency"]
    whole = a.varm["saliency"][a.var_names.get_indexer(e["var_names"])]
    weighted = np.tensordot(e["group_n"], e["group_maps"], axes=1) / e["group_n"].sum()
    np.testing.assert_allclose(weighted, whole, rtol=1e-5)
    assert list(e["groups"]) == ["g0", "g1", "g2"]


def test_saliency_h5ad_round_trip(trained, tmp_path):
    a = trained.copy()
    ss.tl.saliency(a, groupby="group", progress=False)
    a.write_h5ad(tmp_path / "s.h5ad")
    b = ad.read_h5ad(tmp_path / "s.h5ad")
    np.testing.assert_array_equal(b.varm["saliency"], a.varm["saliency"])
    ss.tl.saliency(b, key_added="again", progress=False)  # runs from the stored model alone
    np.testing.assert_allclose(b.varm["again"], a.varm["saliency"], rtol=1e-5, equal_nan=True)


def test_saliency_bad_input(counts, trained):
    with pytest.raises(KeyError, match="Run scsaliency.tl.ortho_ae"):
        ss.tl.saliency(counts, progress=False)
    with pytest.raises(KeyError, match="groupby='nope'"):
        ss.tl.saliency(trained.copy(), groupby="nope", progress=False)
    with pytest.raises(ValueError, match="method must be one of"):
        ss.tl.saliency(trained.copy(), method="lrp", progress=False)
    with pytest.raises(KeyError, match="Layer 'raw'"):
        ss.tl.saliency(trained.copy(), layer="raw", progress=False)


def test_get_saliency_tidy(trained):
    a = trained.copy()
    ss.tl.saliency(a, groupby="group", progress=False)
    tidy = ss.get.saliency(a)
    assert list(tidy.columns) == ["gene", "unit", "saliency"] and len(tidy) == a.n_vars * 8
    g0 = ss.get.saliency(a, group="g0")
    e = a.uns["saliency"]
    np.testing.assert_allclose(g0["saliency"].to_numpy(), e["group_maps"][0].ravel())
    with pytest.raises(KeyError, match="not a group"):
        ss.get.saliency(a, group="nope")


def test_tl_saliency_unlabelled_cells_count_in_whole_map(trained):
    a = trained.copy()
    ss.tl.saliency(a, method="guided", progress=False)
    whole = a.varm["saliency"].copy()
    a.obs["part"] = a.obs["group"].astype(object)
    a.obs.loc[a.obs_names[:50], "part"] = np.nan
    ss.tl.saliency(a, groupby="part", method="guided", progress=False)
    np.testing.assert_allclose(a.varm["saliency"], whole, rtol=1e-5, equal_nan=True)
    assert a.uns["saliency"]["group_n"].sum() == a.n_obs - 50
