"""`tl.align`: the representation for neighbours aligned across batches (Harmony, harmonypy)."""

import anndata as ad
import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

import scsaliency as ss


def shares(rep, batch, group, k=15):
    """Mean share of each cell's k nearest neighbours in its own batch, and in its own group."""
    idx = NearestNeighbors(n_neighbors=k + 1).fit(rep).kneighbors(rep, return_distance=False)[:, 1:]
    b, g = np.asarray(batch), np.asarray(group)
    return (b[idx] == b[:, None]).mean(), (g[idx] == g[:, None]).mean()


@pytest.fixture(scope="module")
def batched():
    a = ss.datasets.synthetic(
        n_cells=600,
        n_genes=200,
        n_groups=3,
        n_samples=3,
        sample_effect=0.5,
        library_effect=0.3,
        random_state=6,
    )
    ss.tl.ortho_ae(a, n_latent=8, n_hidden=32, max_epochs=30, progress=False)
    return a


def test_align_mixes_the_batches_and_keeps_the_groups(batched):
    a = batched.copy()
    units = a.obsm["X_ortho_ae"].copy()
    model = a.uns["ortho_ae"]["weights"]["decoder.P"].copy()
    ss.tl.align(a, "sample", progress=False)
    z = a.obsm["X_ortho_ae_aligned"]
    assert z.shape == units.shape and z.dtype == np.float32
    before = shares(np.sqrt(units), a.obs["sample"], a.obs["group"])
    after = shares(z, a.obs["sample"], a.obs["group"])
    assert after[0] < before[0] - 0.2
    assert after[1] >= before[1] - 0.05
    # the model and its units do not move
    np.testing.assert_array_equal(a.obsm["X_ortho_ae"], units)
    np.testing.assert_array_equal(a.uns["ortho_ae"]["weights"]["decoder.P"], model)
    params = a.uns["ortho_ae_aligned"]["params"]
    assert list(params["batch_key"]) == ["sample"] and params["n_clusters"] == 20


def test_align_is_deterministic_and_round_trips(batched, tmp_path):
    a, b = batched.copy(), batched.copy()
    for x in (a, b):
        ss.tl.align(x, "sample", n_clusters=8, random_state=3, progress=False)
    np.testing.assert_array_equal(a.obsm["X_ortho_ae_aligned"], b.obsm["X_ortho_ae_aligned"])
    a.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    np.testing.assert_array_equal(back.obsm["X_ortho_ae_aligned"], a.obsm["X_ortho_ae_aligned"])
    np.testing.assert_array_equal(
        back.uns["ortho_ae_aligned"]["objective"], a.uns["ortho_ae_aligned"]["objective"]
    )
    assert back.uns["ortho_ae_aligned"]["params"]["n_clusters"] == 8


def test_align_takes_the_models_batch_key_and_copies(batched):
    a = batched.copy()
    ss.tl.ortho_ae(a, batch_key="sample", n_latent=8, n_hidden=32, max_epochs=5, progress=False)
    out = ss.tl.align(a, copy=True, key_added="al", progress=False)
    assert "X_al" in out.obsm and "X_al" not in a.obsm
    assert list(out.uns["al"]["params"]["batch_key"]) == ["sample"]


@pytest.mark.parametrize(
    "mutate, kw, error, match",
    [
        (lambda a: None, {}, ValueError, "trained without batch_key"),
        (lambda a: None, {"batch_key": "nope"}, KeyError, "not a column"),
        (lambda a: a.obs.__setitem__("one", "x"), {"batch_key": "one"}, ValueError, "single"),
        (lambda a: a.obs.__setitem__("f", 1.5), {"batch_key": "f"}, ValueError, "float"),
        (lambda a: a.obsm.pop("X_ortho_ae"), {"batch_key": "sample"}, KeyError, "X_ortho_ae"),
        (lambda a: None, {"batch_key": "sample", "theta": -1}, ValueError, "theta"),
        (lambda a: None, {"batch_key": "sample", "n_clusters": 10**6}, ValueError, "n_clusters"),
    ],
)
def test_align_checks_its_input_first(batched, mutate, kw, error, match):
    a = batched.copy()
    mutate(a)
    with pytest.raises(error, match=match):
        ss.tl.align(a, progress=False, **kw)
    assert "ortho_ae_aligned" not in a.uns


def test_align_needs_a_model(counts):
    with pytest.raises(KeyError, match="No trained model"):
        ss.tl.align(counts, "group", progress=False)
