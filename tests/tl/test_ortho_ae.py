"""`tl.ortho_ae`: training, settings, storage, input checks."""

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
import torch

import scsaliency as ss
from scsaliency.nn.network import AdditiveDecoder, OrthoAE

from ..conftest import independent_programs, requires_pbmc

FAST = dict(n_latent=6, n_hidden=16, max_epochs=5, progress=False)


def test_shapes_and_keys(counts):
    ss.tl.ortho_ae(counts, **FAST)
    z = counts.obsm["X_ortho_ae"]
    assert z.shape == (counts.n_obs, 6) and z.dtype == np.float32
    entry = counts.uns["ortho_ae"]
    assert set(entry) == {"format_version", "params", "history", "var_names", "weights"}
    hist = entry["history"]
    assert list(hist.columns) == [
        "train_loss",
        "val_loss",
        "ortho_penalty",
        "unit_corr_norm",
        "seconds",
    ]
    assert len(hist) == entry["params"]["n_epochs"] <= 5
    assert np.isfinite(hist.to_numpy()).all()
    assert len(entry["var_names"]) == counts.n_vars


def test_key_added_and_copy(counts):
    out = ss.tl.ortho_ae(counts, key_added="ae2", copy=True, **FAST)
    assert "X_ae2" in out.obsm and "ae2" in out.uns
    assert "X_ae2" not in counts.obsm and "ae2" not in counts.uns


def test_same_seed_same_numbers(counts):
    a = ss.tl.ortho_ae(counts, copy=True, random_state=3, **FAST).obsm["X_ortho_ae"]
    b = ss.tl.ortho_ae(counts, copy=True, random_state=3, **FAST).obsm["X_ortho_ae"]
    c = ss.tl.ortho_ae(counts, copy=True, random_state=4, **FAST).obsm["X_ortho_ae"]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.filterwarnings("ignore:.*selected genes have no counts")
@pytest.mark.parametrize("decoder", ["additive", "mlp"])
def test_same_seed_same_numbers_with_many_counts_per_batch(decoder):
    # Batches with tens of thousands of non-zero counts: torch runs the loss's scatters in
    # parallel there (an accumulating scatter made two runs differ; 300 x 200 cells x genes
    # are too few to show it).
    c = ss.datasets.synthetic(n_cells=600, n_genes=1500, n_groups=3, random_state=0)
    kw = dict(n_latent=8, n_hidden=16, max_epochs=3, progress=False, decoder=decoder)
    a = ss.tl.ortho_ae(c, copy=True, random_state=3, **kw).obsm["X_ortho_ae"]
    b = ss.tl.ortho_ae(c, copy=True, random_state=3, **kw).obsm["X_ortho_ae"]
    np.testing.assert_array_equal(a, b)


def test_penalty_lowers_orthogonality_error(counts):
    kw = dict(n_latent=8, n_hidden=16, max_epochs=30, patience=100, lr=0.01, progress=False)
    on = ss.tl.ortho_ae(counts, copy=True, ortho_weight=1.0, **kw)
    off = ss.tl.ortho_ae(counts, copy=True, ortho_weight=0.0, **kw)
    pen_on = on.uns["ortho_ae"]["history"]["ortho_penalty"].iloc[-1]
    pen_off = off.uns["ortho_ae"]["history"]["ortho_penalty"].iloc[-1]
    assert pen_on < 0.5 * pen_off


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
def test_dense_and_sparse_agree(counts, fmt):
    ref = ss.tl.ortho_ae(counts, copy=True, **FAST).obsm["X_ortho_ae"]
    b = counts.copy()
    b.X = {"dense": b.X.toarray(), "csr": sp.csr_matrix(b.X), "csc": sp.csc_matrix(b.X)}[fmt]
    out = ss.tl.ortho_ae(b, copy=True, **FAST).obsm["X_ortho_ae"]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_layer_and_input_untouched(counts):
    counts.layers["counts"] = counts.X.copy()
    counts.X = np.log1p(counts.X.toarray())
    before_x, before_l = counts.X.copy(), counts.layers["counts"].copy()
    with pytest.raises(ValueError, match="non-integer.*layer="):
        ss.tl.ortho_ae(counts, **FAST)
    ss.tl.ortho_ae(counts, layer="counts", **FAST)
    np.testing.assert_array_equal(counts.X, before_x)
    assert (counts.layers["counts"] != before_l).nnz == 0
    assert counts.uns["ortho_ae"]["params"]["layer"] == "counts"


def test_mask_var(counts):
    counts.var["use"] = np.arange(counts.n_vars) % 2 == 0
    ss.tl.ortho_ae(counts, mask_var="use", **FAST)
    assert list(counts.uns["ortho_ae"]["var_names"]) == list(counts.var_names[counts.var["use"]])
    ss.tl.ortho_ae(counts, mask_var=counts.var["use"].to_numpy(), key_added="m2", **FAST)
    assert len(counts.uns["m2"]["var_names"]) == counts.n_vars // 2


@pytest.mark.parametrize(
    ("mutate", "kwargs", "error", "match"),
    [
        (lambda a: a.X.data.__setitem__(0, -1), {}, ValueError, "negative"),
        (
            lambda a: setattr(a, "X", a.X.astype(np.float32)) or a.X.data.__setitem__(0, np.nan),
            {},
            ValueError,
            "NaN",
        ),
        (
            lambda a: setattr(a, "X", a.X.astype(np.float32)) or a.X.data.__setitem__(0, np.inf),
            {},
            ValueError,
            "infinite",
        ),
        (lambda a: None, {"n_latent": 500}, ValueError, "n_latent=500"),
        (lambda a: None, {"layer": "nope"}, KeyError, "Layer 'nope'"),
        (lambda a: None, {"mask_var": "nope"}, KeyError, "mask_var='nope'"),
        (lambda a: None, {"mask_var": np.zeros(3, bool)}, ValueError, "one entry per gene"),
        # Issue 27: these reached torch or numpy, or crashed after training.
        (lambda a: None, {"random_state": -1}, ValueError, "random_state must be a non-neg"),
        (lambda a: None, {"random_state": 1.5}, ValueError, "random_state must be a non-neg"),
        (lambda a: None, {"key_added": "a/b"}, ValueError, "key_added must be a non-empty"),
        (lambda a: None, {"key_added": ""}, ValueError, "key_added must be a non-empty"),
        (lambda a: None, {"device": "tpu0"}, ValueError, "device='tpu0' is not a device"),
        (lambda a: None, {"distributed": True}, ValueError, "needs a torch.distributed"),
        (lambda a: None, {"batch_size": 12.5}, TypeError, "batch_size must be an integer"),
        (lambda a: None, {"n_hidden": 2.5}, TypeError, "n_hidden must be an integer"),
        (lambda a: None, {"lr": "fast"}, TypeError, "lr must be a number"),
        (lambda a: None, {"ortho_weight": np.nan}, ValueError, "ortho_weight must be finite"),
        (lambda a: None, {"validation_fraction": 0.999}, ValueError, "fewer than 2 to train"),
    ],
)
def test_bad_input(counts, mutate, kwargs, error, match):
    mutate(counts)
    with pytest.raises(error, match=match):
        ss.tl.ortho_ae(counts, **{**FAST, **kwargs})
    assert "ortho_ae" not in counts.uns


def test_zero_cells_and_genes(counts):
    x = counts.X.tolil()
    x[0, :] = 0
    x[:, 5] = 0
    counts.X = x.tocsr()
    with pytest.warns(UserWarning) as record:
        ss.tl.ortho_ae(counts, **FAST)
    text = " ".join(str(r.message) for r in record)
    assert "1 selected genes have no counts" in text and "1 cells have no counts" in text
    assert counts.var_names[5] not in set(counts.uns["ortho_ae"]["var_names"])
    assert np.isfinite(counts.obsm["X_ortho_ae"]).all()


def test_h5ad_round_trip_and_get_model(trained, tmp_path):
    path = tmp_path / "a.h5ad"
    trained.write_h5ad(path)
    back = ad.read_h5ad(path)
    m = ss.get.model(back)
    genes = back.var_names.get_indexer(back.uns["ortho_ae"]["var_names"])
    x = torch.as_tensor(back.X[:, genes].toarray(), dtype=torch.float32)
    with torch.no_grad():
        z = m.encode(x).numpy()
    np.testing.assert_allclose(z, trained.obsm["X_ortho_ae"], rtol=1e-5, atol=1e-6)
    assert back.uns["ortho_ae"]["history"].shape == trained.uns["ortho_ae"]["history"].shape


def test_get_model_without_training(counts):
    with pytest.raises(KeyError, match="Run scsaliency.tl.ortho_ae"):
        ss.get.model(counts)


def test_sgd_and_full_batch(counts):
    ss.tl.ortho_ae(counts, optimizer="sgd", batch_size=None, **FAST)
    p = counts.uns["ortho_ae"]["params"]
    assert p["optimizer"] == "sgd" and p["batch_size"] == 0


def test_early_stopping_restores_best(counts):
    ss.tl.ortho_ae(
        counts,
        n_latent=4,
        n_hidden=8,
        max_epochs=400,
        patience=3,
        tol=0.0,
        lr=0.05,
        progress=False,
    )
    p = counts.uns["ortho_ae"]["params"]
    hist = counts.uns["ortho_ae"]["history"]
    assert p["stopped_early"] and p["n_epochs"] == p["best_epoch"] + 4
    assert hist["val_loss"].idxmin() == str(p["best_epoch"])


@requires_pbmc
def test_pbmc3k_real_data():
    adata = ss.datasets.pbmc3k()
    adata = adata[adata.obs["cell_type"].notna()].copy()
    expressed = np.asarray((adata.X > 0).sum(0)).ravel() >= 50
    ss.tl.ortho_ae(adata, mask_var=expressed, n_latent=16, max_epochs=30, progress=False)
    z = adata.obsm["X_ortho_ae"]
    # The representation separates cell types: B cells vs CD14+ monocytes differ on some unit
    # by far more than the within-group spread.
    b = z[(adata.obs["cell_type"] == "B").to_numpy()]
    m = z[(adata.obs["cell_type"] == "CD14+ Mono").to_numpy()]
    effect = np.abs(b.mean(0) - m.mean(0)) / np.sqrt((b.var(0) + m.var(0)) / 2 + 1e-12)
    assert effect.max() > 2
    assert (
        adata.uns["ortho_ae"]["history"]["val_loss"].iloc[-1]
        < adata.uns["ortho_ae"]["history"]["val_loss"].iloc[0]
    )


def test_tol_stops_once_gains_are_small(counts):
    kw = dict(n_latent=4, n_hidden=8, max_epochs=200, patience=3, progress=False)
    ss.tl.ortho_ae(counts, tol=0.0, key_added="exact", **kw)
    ss.tl.ortho_ae(counts, tol=0.05, key_added="loose", **kw)
    exact, loose = counts.uns["exact"]["params"], counts.uns["loose"]["params"]
    assert loose["tol"] == 0.05 and exact["tol"] == 0.0
    assert loose["n_epochs"] < exact["n_epochs"]
    # the best weights are still those of the lowest validation loss seen
    hist = counts.uns["loose"]["history"]
    assert hist["val_loss"].idxmin() == str(loose["best_epoch"])
    assert loose["n_epochs"] - loose["best_epoch"] - 1 <= 3


def test_center_input_is_the_mean_input_of_training_cells(counts, monkeypatch):
    seen = []
    original = OrthoAE.center_input

    def spy(self, center, batch_center=None):
        seen.append(center.clone())
        original(self, center, batch_center)

    monkeypatch.setattr(OrthoAE, "center_input", spy)
    ss.tl.ortho_ae(counts, **FAST)
    (center,) = seen
    x = torch.as_tensor(counts.X.toarray() if sp.issparse(counts.X) else counts.X)
    s = x.sum(1, keepdim=True) / counts.uns["ortho_ae"]["weights"]["median_total"].item()
    # the training cells are 90% of the cells, so their mean is near the mean of all cells
    torch.testing.assert_close(center, torch.log1p(x / s).mean(0).float(), rtol=0.1, atol=0.02)
    assert counts.uns["ortho_ae"]["params"]["center_input"] is True
    ss.tl.ortho_ae(counts, center_input=False, key_added="uncentred", **FAST)
    assert len(seen) == 1 and counts.uns["uncentred"]["params"]["center_input"] is False
    # the paper's decoder is not centred unless asked
    ss.tl.ortho_ae(counts, decoder="mlp", key_added="mlp", **FAST)
    assert len(seen) == 1 and counts.uns["mlp"]["params"]["center_input"] is False
    ss.tl.ortho_ae(counts, decoder="mlp", center_input=True, key_added="mlp_c", **FAST)
    assert len(seen) == 2 and counts.uns["mlp_c"]["params"]["center_input"] is True
    assert not np.allclose(counts.obsm["X_ortho_ae"], counts.obsm["X_uncentred"])


@pytest.mark.parametrize("decoder", ["additive", "mlp"])
def test_each_decoder_trains_round_trips_and_rebuilds(decoder, tmp_path):
    a = independent_programs(n_cells=300, n_genes=120, n_decoys=1)
    ss.tl.ortho_ae(a, decoder=decoder, n_latent=6, n_hidden=16, max_epochs=5, progress=False)
    params = a.uns["ortho_ae"]["params"]
    assert params["decoder"] == decoder
    path = tmp_path / "a.h5ad"
    a.write_h5ad(path)
    b = ad.read_h5ad(path)
    module = ss.get.model(b)
    assert module.decoder_kind == decoder
    genes = b.uns["ortho_ae"]["var_names"]
    x = torch.as_tensor(b[:, genes].X.toarray(), dtype=torch.float32)
    with torch.no_grad():
        z, rate = module(x)
    np.testing.assert_allclose(z.numpy(), b.obsm["X_ortho_ae"], rtol=1e-5, atol=1e-6)
    assert torch.isfinite(rate).all() and (rate > 0).all()


def test_models_stored_before_the_decoder_choice_rebuild_as_mlp():
    a = independent_programs(n_cells=300, n_genes=120, n_decoys=1)
    ss.tl.ortho_ae(a, decoder="mlp", n_latent=6, n_hidden=16, max_epochs=3, progress=False)
    del a.uns["ortho_ae"]["params"]["decoder"]  # as written by version 0.1.0
    del a.uns["ortho_ae"]["format_version"]
    module = ss.get.model(a)
    assert module.decoder_kind == "mlp"
    genes = a.uns["ortho_ae"]["var_names"]
    with torch.no_grad():
        z = module.encode(torch.as_tensor(a[:, genes].X.toarray(), dtype=torch.float32))
    np.testing.assert_allclose(z.numpy(), a.obsm["X_ortho_ae"], rtol=1e-5, atol=1e-6)


def test_scale_units_is_stored_and_can_be_switched_off(counts, tmp_path):
    a = independent_programs(n_cells=300, n_genes=120, n_decoys=1)
    b = a.copy()
    kw = dict(n_latent=6, n_hidden=16, max_epochs=3, progress=False)
    ss.tl.ortho_ae(a, **kw)
    ss.tl.ortho_ae(b, scale_units=False, **kw)
    assert a.uns["ortho_ae"]["params"]["scale_units"]
    assert not b.uns["ortho_ae"]["params"]["scale_units"]
    scale = a.uns["ortho_ae"]["weights"]["unit_scale"]
    np.testing.assert_array_equal(b.uns["ortho_ae"]["weights"]["unit_scale"], np.ones(6))
    assert not np.allclose(scale, 1)
    np.testing.assert_allclose(a.obsm["X_ortho_ae"], b.obsm["X_ortho_ae"] * scale, rtol=1e-5)
    # a model stored before units were scaled has no unit_scale: it rebuilds with factors 1
    del b.uns["ortho_ae"]["weights"]["unit_scale"]
    del b.uns["ortho_ae"]["format_version"]
    genes = b.uns["ortho_ae"]["var_names"]
    with torch.no_grad():
        z = ss.get.model(b).encode(torch.as_tensor(b[:, genes].X.toarray(), dtype=torch.float32))
    np.testing.assert_allclose(z.numpy(), b.obsm["X_ortho_ae"], rtol=1e-5, atol=1e-6)
    c = ss.tl.ortho_ae(a, decoder="mlp", copy=True, **kw)
    assert not c.uns["ortho_ae"]["params"]["scale_units"]  # no programs to scale


def test_unknown_decoder_is_a_clear_error(counts):
    with pytest.raises(ValueError, match="decoder must be one of"):
        ss.tl.ortho_ae(counts, decoder="linear", progress=False)


@pytest.mark.parametrize("program_init", ["varimax", "flat"])
def test_program_init_is_used_and_stored(program_init, monkeypatch):
    a = independent_programs()
    starts = []
    real = AdditiveDecoder.init_programs
    monkeypatch.setattr(
        AdditiveDecoder, "init_programs", lambda self, p: starts.append(p) or real(self, p)
    )
    ss.tl.ortho_ae(
        a, n_latent=8, n_hidden=16, max_epochs=2, program_init=program_init, progress=False
    )
    assert a.uns["ortho_ae"]["params"]["program_init"] == program_init
    assert len(starts) == (program_init == "varimax")
    if starts:
        assert 1 <= len(starts[0]) <= 4  # half of the units start from profiles
    ss.tl.ortho_ae(a, decoder="mlp", n_latent=8, n_hidden=16, max_epochs=2, progress=False)
    assert a.uns["ortho_ae"]["params"]["program_init"] == "none"


@pytest.mark.parametrize(
    ("kw", "expected"),
    [({}, 2e-3), ({"decoder": "mlp"}, 1e-3), ({"optimizer": "sgd"}, 1e-2)],
)
def test_default_learning_rate_per_decoder(counts, kw, expected):
    base = dict(n_latent=4, n_hidden=8, max_epochs=2, progress=False, **kw)
    ss.tl.ortho_ae(counts, key_added="default", **base)
    ss.tl.ortho_ae(counts, lr=expected, key_added="explicit", **base)
    ss.tl.ortho_ae(counts, lr=expected * 2, key_added="other", **base)
    assert counts.uns["default"]["params"]["lr"] == expected
    np.testing.assert_array_equal(counts.obsm["X_default"], counts.obsm["X_explicit"])
    assert not np.allclose(counts.obsm["X_default"], counts.obsm["X_other"])


def test_unknown_program_init_is_a_clear_error(counts):
    with pytest.raises(ValueError, match="program_init must be"):
        ss.tl.ortho_ae(counts, program_init="nndsvd", progress=False)


def test_duplicate_gene_names_are_named(counts):
    counts.var_names = ["gene0", "gene0", *counts.var_names[2:]]
    with pytest.raises(ValueError, match=r"repeated gene names \('gene0'\).*var_names_make_unique"):
        ss.tl.ortho_ae(counts, progress=False)


def test_no_cells_is_named_as_such(counts):
    with pytest.raises(ValueError, match="no cells"):
        ss.tl.ortho_ae(counts[:0].copy(), progress=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_latent": 0}, "n_latent must be at least 1"),
        ({"max_epochs": 0}, "max_epochs must be at least 1"),
        ({"ortho_weight": -1.0}, "ortho_weight must be at least 0"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"validation_fraction": 1.0}, r"validation_fraction must be in \(0, 1\)"),
    ],
)
def test_ortho_ae_bad_parameters(counts, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ss.tl.ortho_ae(counts, progress=False, **kwargs)


def test_mask_var_defaults_to_highly_variable_as_pca(counts):
    # Issue 27: a scanpy user expects sc.pp.pca's convention.
    counts.var["highly_variable"] = np.arange(counts.n_vars) < 50
    ss.tl.ortho_ae(counts, **FAST)
    assert list(counts.uns["ortho_ae"]["var_names"]) == list(counts.var_names[:50])
    del counts.var["highly_variable"]
    ss.tl.ortho_ae(counts, **FAST)
    assert len(counts.uns["ortho_ae"]["var_names"]) == counts.n_vars


def test_numpy_integers_and_integral_floats_are_accepted(counts):
    # Issue 27: a numpy integer seed crashed torch.manual_seed; 4.0 units crashed nn.Linear.
    ss.tl.ortho_ae(counts, random_state=np.int64(3), **{**FAST, "n_latent": 4.0})
    same = counts.copy()
    ss.tl.ortho_ae(same, random_state=3, **{**FAST, "n_latent": 4})
    np.testing.assert_array_equal(counts.obsm["X_ortho_ae"], same.obsm["X_ortho_ae"])
    assert counts.uns["ortho_ae"]["params"]["random_state"] == 3


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without a GPU")
def test_cuda_without_a_gpu_is_our_message(counts):
    with pytest.raises(ValueError, match="0 CUDA device"):
        ss.tl.ortho_ae(counts, device="cuda", **FAST)
