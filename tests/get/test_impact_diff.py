"""`get.impact_diff`: group tests across cells and across samples."""

import anndata as ad
import numpy as np
import pytest

import scsaliency as ss

SETS_KEY = "synthetic"


def _impact(a, groupby, **kw):
    ss.tl.geneset_impact(
        a, a.uns[SETS_KEY]["gene_sets"], groupby=groupby, n_null=0, progress=False, **kw
    )


def test_sample_test_is_calibrated_where_cells_are_pseudoreplicates(donors):
    """Conditions assigned to whole donors at random: no true difference, only donor effects.

    The cell-level test takes the donor effects for condition effects; the test across donors
    must not.
    """
    a = donors.copy()
    rng = np.random.default_rng(0)
    share = {"cells": [], "samples": []}
    for _ in range(4):
        condition = rng.permutation(np.repeat(["A", "B"], 4))
        a.obs["condition"] = condition[a.obs["sample"].cat.codes.to_numpy()]
        _impact(a, "condition", sample_key="sample")
        for test in share:
            d = ss.get.impact_diff(a, "A", "B", test=test)
            share[test].append((d["padj"] < 0.05).mean())
        assert d.attrs["test"] == "samples, Welch's t-test on pseudobulks"
        assert d.attrs["samples1"] == d.attrs["samples2"] == 4
    assert np.mean(share["samples"]) <= 0.05
    assert np.mean(share["cells"]) > 0.05  # the pseudoreplication the sample test avoids


def test_paired_sample_test_is_calibrated_on_a_random_split(donors):
    a = donors.copy()
    rng = np.random.default_rng(1)
    a.obs["split"] = rng.choice(["A", "B"], a.n_obs)
    _impact(a, "split", sample_key="sample")
    d = ss.get.impact_diff(a, "A", "B")  # "auto": samples were given
    assert d.attrs["test"] == "samples, paired t-test on pseudobulks"
    assert d.attrs["samples1"] == 8 and d["padj"].notna().all()
    assert (d["padj"] < 0.05).mean() <= 0.05


def test_sample_test_finds_a_planted_group_program():
    a = ss.datasets.synthetic(
        n_cells=600, n_genes=200, n_groups=2, n_decoys=4, program_size=15, fold_change=3,
        n_samples=6, sample_effect=0.3, random_state=4,
    )  # fmt: skip
    ss.tl.ortho_ae(a, n_latent=8, n_hidden=32, max_epochs=30, progress=False)
    ss.tl.saliency(a, progress=False)
    _impact(a, "group", sample_key="sample")
    d = ss.get.impact_diff(a, "g0")
    best = d.loc[d["gene_set"] == "program0"].nlargest(1, "diff").iloc[0]
    assert best["padj"] < 0.05 and best["diff"] > 0
    # the planted set gains the most; other sets move too (saliency depends on the cell's state)
    assert d.groupby("gene_set")["diff"].max().idxmax() == "program0"


def test_group_moments_do_not_depend_on_sample_key(donors):
    a = donors.copy()
    _impact(a, "group")
    plain = {k: np.asarray(a.uns["geneset_impact"][k]) for k in ("group_n", "group_mean")}
    _impact(a, "group", sample_key="sample")
    e = a.uns["geneset_impact"]
    np.testing.assert_array_equal(e["group_n"], plain["group_n"])
    np.testing.assert_allclose(e["group_mean"], plain["group_mean"], rtol=1e-9, atol=1e-12)
    assert e["sample_n"].shape == (2, 8) and e["sample_n"].sum() == a.n_obs
    # a group's cell-weighted pseudobulks give back its mean
    n = e["sample_n"][0].astype(float)
    pooled = (n[:, None, None] * e["sample_mean"][0]).sum(0) / n.sum()
    np.testing.assert_allclose(pooled, e["group_mean"][0], rtol=1e-9)
    cell = ss.get.impact_diff(a, "g0", test="cells")
    assert cell.attrs["test"] == "cells, Welch's t-test"


def test_samples_survive_h5ad(donors, tmp_path):
    a = donors.copy()
    a.obs.loc[a.obs["group"] == "g0", "sample"] = "s0"  # g0 has one sample: NaN pseudobulks
    _impact(a, "group", sample_key="sample")
    a.write_h5ad(tmp_path / "a.h5ad")
    b = ad.read_h5ad(tmp_path / "a.h5ad")
    np.testing.assert_array_equal(
        b.uns["geneset_impact"]["sample_mean"], a.uns["geneset_impact"]["sample_mean"]
    )
    assert b.uns["geneset_impact"]["params"]["sample_key"] == "sample"
    with pytest.warns(UserWarning, match="g0 has 1 and rest 8 samples.*min_samples=3"):
        d = ss.get.impact_diff(b, "g0")
    assert d["pval"].isna().all() and d["diff"].notna().all()
    # the table and the figure say that no test ran (the figure named Welch's before)
    assert d.attrs["test"].startswith("samples, no test") and d["effect_size"].notna().any()


def test_sample_key_bad_input(donors):
    a = donors.copy()
    with pytest.raises(ValueError, match="sample_key needs groupby"):
        _impact(a, None, sample_key="sample")
    with pytest.raises(ValueError, match="both 'group'"):
        _impact(a, "group", sample_key="group")
    with pytest.raises(KeyError, match="sample_key='donor' is not a column"):
        _impact(a, "group", sample_key="donor")
    a.obs["one"] = "d1"
    with pytest.raises(ValueError, match="names 1 sample"):
        _impact(a, "group", sample_key="one")
    _impact(a, "group")
    with pytest.raises(ValueError, match="no per-sample impacts.*sample_key="):
        ss.get.impact_diff(a, "g0", test="samples")
    with pytest.raises(ValueError, match="test must be one of"):
        ss.get.impact_diff(a, "g0", test="donors")
    with pytest.raises(ValueError, match="min_samples must be at least 2"):
        ss.get.impact_diff(a, "g0", min_samples=1)


def test_a_group_of_one_cell_gets_no_test(grouped):
    with pytest.warns(UserWarning, match="single has 1 .*min_cells=3"):
        d = ss.get.impact_diff(grouped, "single")
    assert d.attrs["test"].startswith("cells, no test")
    assert d["pval"].isna().all() and d["padj"].isna().all()
    assert d["diff"].notna().all()
    with pytest.raises(ValueError, match="min_cells must be at least 2"):
        ss.get.impact_diff(grouped, "A", min_cells=1)


def test_cell_level_test_is_calibrated_on_a_random_split(grouped):
    d = ss.get.impact_diff(grouped, "A", "B")
    assert d["padj"].notna().all()
    assert (d["padj"] < 0.05).mean() <= 0.05
