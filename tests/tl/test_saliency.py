"""`tl.saliency` and `get.saliency`."""

import anndata as ad
import numpy as np
import pytest

import scsaliency as ss


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


def test_duplicate_gene_names_after_training_are_named(trained):
    a = trained.copy()
    a.var_names = [a.var_names[1], *a.var_names[1:]]
    with pytest.raises(ValueError, match="var_names_make_unique"):
        ss.tl.saliency(a, progress=False)
