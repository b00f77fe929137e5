"""The network: decoders, the loss, the penalty, unit scale, input centring."""

import pytest
import torch

import scsaliency as ss
from scsaliency.nn.network import OrthoAE, poisson_nll

from ..conftest import independent_programs, scaled_pair


def test_additive_decoder_is_one_nonnegative_program_per_unit():
    a = independent_programs(n_cells=300, n_genes=120, n_decoys=1)
    ss.tl.ortho_ae(a, n_latent=6, n_hidden=16, max_epochs=5, progress=False)
    m = ss.get.model(a)
    programs = m.decoder.gene_programs()
    assert programs.shape == (6, 120) and (programs >= 0).all()
    z = torch.zeros(1, 6)
    z1 = z.clone()
    z1[0, 2] = 1.0
    with torch.no_grad():
        added = m.decoder(z1) - m.decoder(z)
    torch.testing.assert_close(added[0], programs[2])


@pytest.mark.parametrize("decoder", ["additive", "mlp"])
def test_training_loss_equals_the_dense_poisson_nll(decoder):
    # The additive decoder's loss skips the dense rate; value and gradients must not change.
    from scsaliency.nn.network import OrthoAE, poisson_nll

    gen = torch.Generator().manual_seed(0)
    m = OrthoAE(200, 16, 6, decoder=decoder, generator=gen)
    if decoder == "additive":
        with torch.no_grad():  # programs of different weights, so each unit matters
            m.decoder.P.mul_(torch.rand(m.decoder.P.shape, generator=gen) * 5)
    m.median_total.fill_(20.0)
    x = torch.poisson(torch.rand(40, 200, generator=gen) * 0.4, generator=gen)
    x[5] = 0  # a cell without counts
    assert 0.1 < float((x > 0).float().mean()) < 0.5
    z, rate = m(x)
    dense = poisson_nll(rate, x)
    z_nll, nll = m(x, nll=True)
    torch.testing.assert_close(z_nll, z)
    torch.testing.assert_close(nll, dense, rtol=1e-5, atol=1e-6)
    params = list(m.parameters())
    for a, b in zip(
        torch.autograd.grad(dense, params), torch.autograd.grad(nll, params), strict=True
    ):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-7)


def test_scale_units_moves_program_length_into_the_unit():
    m, scaled, x = scaled_pair()
    length = m.decoder.P.abs().norm(dim=1).detach()
    assert length.std() > 0.1 * length.mean()  # the programs' lengths differ
    torch.testing.assert_close(scaled.unit_scale, length)
    torch.testing.assert_close(scaled.decoder.P.abs().norm(dim=1), torch.ones(5))
    with torch.no_grad():
        z, rate = m(x)
        z_s, rate_s = scaled(x)
    torch.testing.assert_close(z_s, z * length)
    torch.testing.assert_close(rate_s, rate)  # the same model
    torch.testing.assert_close(scaled.encode(x), z_s)


def test_penalty_reaches_gradient():
    torch.manual_seed(0)
    m = OrthoAE(30, 16, 8)
    x = torch.poisson(torch.full((20, 30), 2.0))
    w = m.encoder_linears[-1].weight

    def grad(weight):
        m.zero_grad()
        z, rate = m(x)
        (poisson_nll(rate, x) + weight * m.ortho_penalty()).backward()
        return w.grad.clone()

    g0, g1 = grad(0.0), grad(1.0)
    m.zero_grad()
    m.ortho_penalty().backward()
    assert w.grad.abs().sum() > 0
    # The penalty's own gradient is exactly what weight 1 adds to the data gradient.
    torch.testing.assert_close(g1 - g0, w.grad, rtol=1e-4, atol=1e-6)


def test_folding_the_input_center_keeps_the_function():
    gen = torch.Generator().manual_seed(0)
    module = OrthoAE(30, 12, 5, decoder="additive", generator=gen)
    x = torch.poisson(torch.full((20, 30), 2.0), generator=gen)
    center = torch.rand(30, generator=gen)
    module.center_input(center)
    with torch.no_grad():
        z_centred, rate_centred = module(x)
        shifted = OrthoAE(30, 12, 5, decoder="additive")
        shifted.load_state_dict(module.state_dict())
        # the centre changes what the network computes until it is folded
        assert not torch.allclose(shifted.encode(x), z_centred)
        module.fold_input_center()
        z, rate = module(x)
    torch.testing.assert_close(z, z_centred, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(rate, rate_centred, rtol=1e-5, atol=1e-6)
    assert module.input_center is None and "input_center" not in module.state_dict()
    with pytest.raises(ValueError, match="center must have shape"):
        module.center_input(torch.zeros(29))


def test_batch_centre_folds_into_the_batch_bias():
    # Issue 29: each batch's centre of the input folds into its first-layer bias exactly.
    gen = torch.Generator().manual_seed(0)
    module = OrthoAE(12, 8, 3, decoder="additive", n_batch=3, generator=gen)
    with torch.no_grad():
        module.batch_hidden.normal_(generator=gen)
        module.batch_log.normal_(generator=gen)
    module.batch_group.copy_(torch.tensor([0, 0, 1]))  # two covariates: 2 and 1 batches
    counts = torch.poisson(torch.full((20, 12), 3.0), generator=gen)
    onehot = torch.zeros(20, 3)
    onehot[torch.arange(20), torch.arange(20) % 2] = 1
    onehot[::3, 2] = 1
    x = torch.cat([counts, onehot], 1)
    module.center_input(torch.rand(12, generator=gen), torch.rand(3, 12, generator=gen))
    before_z, before_rate = module(x)
    module.fold_input_center()
    after_z, after_rate = module(x)
    assert module.batch_center is None and module.input_center is None
    torch.testing.assert_close(after_z, before_z)
    torch.testing.assert_close(after_rate, before_rate)
    # the centred log factors of each covariate sum to zero over its batches
    f = module.batch_factors()
    torch.testing.assert_close(f[:2].sum(0), torch.zeros(12), atol=1e-6, rtol=0)
    torch.testing.assert_close(f[2], torch.zeros(12))
