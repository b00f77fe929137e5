"""Saliency kernels against the autograd reference and by hand."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from scsaliency.nn.gradients import METHODS, saliency_pass
from scsaliency.nn.network import OrthoAE
from scsaliency.nn.tensors import CellMatrix

from ..conftest import scaled_pair
from ..reference import cell_saliency, reference_saliency


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


@pytest.mark.parametrize("method", ["guided", "gradient", "guided_x_input", "gradient_x_centered"])
def test_scaled_units_scale_their_saliency(method):
    from scsaliency.nn.gradients import saliency_pass

    from ..reference import cell_saliency, reference_saliency

    m, scaled, x = scaled_pair()
    length = scaled.unit_scale.view(1, -1, 1)
    got = cell_saliency(scaled, x, method)
    torch.testing.assert_close(got, cell_saliency(m, x, method) * length)
    torch.testing.assert_close(got, reference_saliency(scaled, x, method))
    data = CellMatrix(x.numpy(), np.arange(30))
    # guided_x_input goes through the expressed-pairs path in the streaming pass
    s = saliency_pass(scaled, data, method, progress=False).group_sums
    u = saliency_pass(m, data, method, progress=False).group_sums
    np.testing.assert_allclose(s, u * scaled.unit_scale.numpy(), rtol=1e-4, atol=1e-6)
