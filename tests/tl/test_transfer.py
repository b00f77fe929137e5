"""`tl.transfer`: a model applied to other data."""

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

import scsaliency as ss


def test_transfer_gives_the_reference_model_on_new_cells(halves):
    ref, query = halves
    q = query.copy()
    x_before = q.X.copy()
    ss.tl.transfer(q, ref)
    assert q.obsm["X_ortho_ae"].shape == (300, 8)
    assert (q.X != x_before).nnz == 0  # input untouched
    # the same network as the reference's applied to the query's counts
    module = ss.get.model(ref)
    import torch

    with torch.no_grad():
        expect = module.encode(torch.as_tensor(q.X.toarray(), dtype=torch.float32)).numpy()
    np.testing.assert_allclose(q.obsm["X_ortho_ae"], expect, rtol=1e-5, atol=1e-6)
    t = q.uns["ortho_ae"]["transfer"]
    assert t["source"] == "AnnData" and t["n_missing"] == 0 and t["n_genes"] == 200


def test_gene_order_does_not_matter(halves):
    ref, query = halves
    q1 = query.copy()
    ss.tl.transfer(q1, ref)
    perm = np.random.default_rng(0).permutation(query.n_vars)
    q2 = query[:, perm].copy()
    ss.tl.transfer(q2, ref)
    np.testing.assert_array_equal(q1.obsm["X_ortho_ae"], q2.obsm["X_ortho_ae"])
    # and downstream: the same saliency per gene, whatever the order
    for q in (q1, q2):
        ss.tl.saliency(q, progress=False)
    s1, s2 = ss.get.saliency(q1), ss.get.saliency(q2)
    merged = s1.merge(s2, on=["gene", "unit"])
    np.testing.assert_allclose(merged["saliency_x"], merged["saliency_y"], rtol=1e-5)


def test_missing_genes_enter_as_zeros(halves):
    ref, query = halves
    keep = np.ones(query.n_vars, dtype=bool)
    keep[:30] = False  # 15% of the model's genes
    q = query[:, keep].copy()
    with pytest.warns(UserWarning, match="30 of the model's 200 genes are not in adata"):
        ss.tl.transfer(q, ref)
    zeroed = query.copy()
    zeroed.X = sp.csr_matrix(zeroed.X.multiply(keep[None, :].astype(np.int32)))
    ss.tl.transfer(zeroed, ref)
    np.testing.assert_allclose(q.obsm["X_ortho_ae"], zeroed.obsm["X_ortho_ae"], rtol=1e-6)
    assert q.uns["ortho_ae"]["transfer"]["n_missing"] == 30
    # downstream tools work with the genes it has
    ss.tl.saliency(q, groupby="group", progress=False)
    assert np.isfinite(q.varm["saliency"]).all()
    sets = ref.uns["synthetic"]["gene_sets"]
    ss.tl.geneset_impact(q, sets, groupby="group", n_null=50, progress=False)
    assert ss.get.units(q)["gene_set"].str.len().gt(0).any()
    assert np.isfinite(q.uns["geneset_impact"]["group_mean"]).all()
    with pytest.raises(ValueError, match=r"120 of the model's 200 genes \(60%\).*max_missing=0.5"):
        ss.tl.transfer(query[:, 120:].copy(), ref)


def test_reference_as_a_path_and_round_trip(halves, tmp_path):
    ref, query = halves
    path = tmp_path / "ref.h5ad"
    ref.write_h5ad(path)
    q = query.copy()
    ss.tl.transfer(q, path, key_added="pbmc_model")
    assert q.uns["pbmc_model"]["transfer"]["source"] == str(path.resolve())
    direct = query.copy()
    ss.tl.transfer(direct, ref)
    np.testing.assert_array_equal(q.obsm["X_pbmc_model"], direct.obsm["X_ortho_ae"])
    q.write_h5ad(tmp_path / "q.h5ad")
    back = ad.read_h5ad(tmp_path / "q.h5ad")
    assert back.uns["pbmc_model"]["transfer"]["n_missing"] == 0
    ss.tl.saliency(back, model_key="pbmc_model", progress=False)  # the model rebuilds
    # a transferred model can travel again
    again = query.copy()
    ss.tl.transfer(again, back, model_key="pbmc_model")
    assert "via" in again.uns["pbmc_model"]["transfer"]["source"]


def test_backed_query(halves, tmp_path):
    ref, query = halves
    query.write_h5ad(tmp_path / "q.h5ad")
    backed = ad.read_h5ad(tmp_path / "q.h5ad", backed="r")
    ss.tl.transfer(backed, ref)
    mem = query.copy()
    ss.tl.transfer(mem, ref)
    np.testing.assert_allclose(backed.obsm["X_ortho_ae"], mem.obsm["X_ortho_ae"], rtol=1e-6)


def test_transfer_bad_input(halves, tmp_path):
    ref, query = halves
    with pytest.raises(KeyError, match="No trained model in adata.uns\\['nope'\\]"):
        ss.tl.transfer(query.copy(), ref, model_key="nope")
    with pytest.raises(FileNotFoundError, match="reference file not found"):
        ss.tl.transfer(query.copy(), tmp_path / "missing.h5ad")
    bad = tmp_path / "bad.h5ad"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not a readable .h5ad"):
        ss.tl.transfer(query.copy(), bad)
    with pytest.raises(TypeError, match="reference must be an AnnData"):
        ss.tl.transfer(query.copy(), 3)
    lognorm = query.copy()
    lognorm.X = lognorm.X.astype(np.float32) * 0.5
    with pytest.raises(ValueError, match="non-integer values"):
        ss.tl.transfer(lognorm, ref)
    with pytest.raises(KeyError, match="Layer 'counts' not found"):
        ss.tl.transfer(query.copy(), ref, layer="counts")
    with pytest.raises(ValueError, match="max_missing must be in"):
        ss.tl.transfer(query.copy(), ref, max_missing=1.5)
    # a model trained here still requires all its genes
    with pytest.raises(KeyError, match="tl.transfer to apply a model to other data"):
        ss.tl.saliency(ref[:, 10:].copy(), progress=False)
