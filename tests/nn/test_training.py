"""The training loop: optimiser groups and the validation loss."""

import numpy as np
import pytest

import scsaliency as ss
from scsaliency.nn.network import OrthoAE
from scsaliency.nn.tensors import CellMatrix


def test_program_lr_scales_only_the_additive_decoder(counts):
    from scsaliency.nn.training import TrainConfig, _make_optimizer

    module = OrthoAE(50, 16, 4, decoder="additive")
    opt = _make_optimizer(module, TrainConfig(lr=2e-3, decoder_lr_scale=0.25))
    enc, dec = opt.param_groups
    assert enc["lr"] == 2e-3 and dec["lr"] == 5e-4
    assert {id(p) for p in dec["params"]} == {id(p) for p in module.decoder.parameters()}
    kw = dict(n_latent=4, n_hidden=8, max_epochs=3, progress=False)
    ss.tl.ortho_ae(counts, program_lr=1.0, key_added="one", **kw)
    ss.tl.ortho_ae(counts, program_lr=0.25, key_added="quarter", **kw)
    assert counts.uns["quarter"]["params"]["program_lr"] == 0.25
    assert not np.allclose(counts.obsm["X_one"], counts.obsm["X_quarter"])
    ss.tl.ortho_ae(counts, decoder="mlp", program_lr=0.25, key_added="mlp", **kw)
    assert counts.uns["mlp"]["params"]["program_lr"] == 1.0
    with pytest.raises(ValueError, match="program_lr must be"):
        ss.tl.ortho_ae(counts, program_lr=0.0, **kw)


def test_validation_loss_is_above_the_saturated_model(trained):
    from scsaliency.nn.training import _saturated_nll, _validation_loss

    module = ss.get.model(trained)
    genes = trained.var_names.get_indexer(trained.uns["ortho_ae"]["var_names"])
    data, cells = CellMatrix(trained.X, genes), np.arange(50)
    nll, n, _ = _validation_loss(module, data, cells, "cpu")
    assert n == 50 and _saturated_nll(data, cells, "cpu") < nll


def test_csr_and_dense_input_train_the_same_model(counts):
    """CSR input takes the loader's non-zeros, dense input finds them in the loss: same numbers."""
    import scipy.sparse as sp

    dense = counts.copy()
    dense.X = dense.X.toarray() if sp.issparse(dense.X) else dense.X
    sparse = counts.copy()
    sparse.X = sp.csr_matrix(dense.X)
    kw = dict(n_latent=4, n_hidden=8, max_epochs=3, progress=False, random_state=1)
    for a in (dense, sparse):
        ss.tl.ortho_ae(a, decoder="additive", **kw)
    np.testing.assert_array_equal(dense.obsm["X_ortho_ae"], sparse.obsm["X_ortho_ae"])
    losses = [a.uns["ortho_ae"]["history"]["train_loss"].to_numpy() for a in (dense, sparse)]
    np.testing.assert_array_equal(*losses)
