"""`tl.geneset_impact`: impact, significance, planted programs."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import scsaliency as ss
from scsaliency.genesets import as_dict

from ..conftest import requires_pbmc


def test_impact_arithmetic(trained):
    a = trained.copy()
    ss.tl.saliency(a, progress=False)
    gs = {"first": list(a.var_names[:10]), "second": list(a.var_names[10:30])}
    ss.tl.geneset_impact(a, gs, n_null=50, progress=False)
    e = a.uns["geneset_impact"]
    sal = pd.DataFrame(a.varm["saliency"], index=a.var_names)
    np.testing.assert_allclose(e["impact"].loc["first"], sal.loc[gs["first"]].mean(), rtol=1e-6)
    np.testing.assert_allclose(e["impact"].loc["second"], sal.loc[gs["second"]].mean(), rtol=1e-6)
    s = e["scaled"].to_numpy()
    assert s.min() == 0 and s.max() == 1
    assert {"zscore", "pval", "padj", "gene_sets", "set_table", "inactive_units"} <= set(e)
    tidy = ss.get.impact(a)
    assert len(tidy) == 2 * 8 and {"gene_set", "unit", "impact", "padj"} <= set(tidy.columns)


def test_planted_programs_found_and_round_trip(trained, tmp_path):
    a = trained.copy()
    ss.tl.saliency(a, progress=False)
    ss.tl.geneset_impact(
        a, a.uns["synthetic"]["gene_sets"], groupby="group", n_null=200, progress=False
    )
    for _, row in a.uns["synthetic"]["programs"].iterrows():
        d = ss.get.impact_diff(a, row["group"])
        best = d.groupby("gene_set")["diff"].max().idxmax()
        assert best == row["program"]
        assert d.loc[d.gene_set == row["program"], "padj"].min() < 1e-3
        assert d["scaled_diff"].between(-1, 1).all()
        assert d.attrs["n1"] + d.attrs["n2"] == a.n_obs
    a.write_h5ad(tmp_path / "i.h5ad")
    b = ad.read_h5ad(tmp_path / "i.h5ad")
    pd.testing.assert_frame_equal(
        ss.get.impact_diff(b, "g1", "g2"), ss.get.impact_diff(a, "g1", "g2")
    )
    pd.testing.assert_frame_equal(ss.get.impact(b), ss.get.impact(a))


def test_pvalues_calibrated_without_programs():
    a = ss.datasets.synthetic(
        n_cells=600,
        n_genes=300,
        n_groups=3,
        n_programs=0,
        n_decoys=12,
        program_size=15,
        random_state=5,
    )
    ss.tl.ortho_ae(a, n_latent=8, n_hidden=32, max_epochs=30, progress=False)
    ss.tl.saliency(a, progress=False)
    ss.tl.geneset_impact(
        a, a.uns["synthetic"]["gene_sets"], groupby="group", n_null=300, progress=False
    )
    e = a.uns["geneset_impact"]
    pval = e["pval"]
    dead = pval.columns.isin(e["inactive_units"])
    assert pval.loc[:, dead].isna().all().all() and pval.loc[:, ~dead].notna().all().all()
    p_null = pval.loc[:, ~dead].to_numpy().ravel()
    assert len(p_null) >= 40
    p_diff = ss.get.impact_diff(a, "g0")["pval"].to_numpy()
    for p in (p_null, p_diff):
        assert 0.3 < p.mean() < 0.7
        assert (p < 0.05).mean() < 0.15


def test_impact_bad_input(trained):
    a = trained.copy()
    with pytest.raises(KeyError, match="Run scsaliency.tl.saliency"):
        ss.tl.geneset_impact(a, {"s": list(a.var_names[:10])})
    ss.tl.saliency(a, progress=False)
    with pytest.raises(ValueError, match="No gene set shares"):
        ss.tl.geneset_impact(a, {"s": ["NOT_A_GENE"] * 3})
    with pytest.raises(KeyError, match="groupby='nope'"):
        ss.tl.geneset_impact(a, {"s": list(a.var_names[:10])}, groupby="nope")
    a.obs["group"] = a.obs["group"].cat.add_categories(["empty"])
    with pytest.warns(UserWarning, match="no cells are left out"):
        ss.tl.geneset_impact(
            a, {"s": list(a.var_names[:10])}, groupby="group", n_null=0, progress=False
        )
    with pytest.raises(ValueError, match="'empty' of obs\\['group'\\] has no cells"):
        ss.get.impact_diff(a, "empty")
    with pytest.raises(KeyError, match="not a group"):
        ss.get.impact_diff(a, "g9")
    ss.tl.geneset_impact(a, {"s": list(a.var_names[:10])}, n_null=0, key_added="nogroups")
    with pytest.raises(KeyError, match="with groupby="):
        ss.get.impact_diff(a, "g0", key="nogroups")


@requires_pbmc
def test_pbmc3k_hallmark_runs_on_real_data():
    a = ss.datasets.pbmc3k()
    a = a[a.obs["cell_type"].notna()].copy()
    hallmark = {g.upper() for s in as_dict("hallmark", a.var_names).values() for g in s}
    a.var["hm"] = a.var_names.str.upper().isin(hallmark) & (np.asarray((a.X > 0).sum(0))[0] >= 3)
    ss.tl.ortho_ae(a, mask_var="hm", n_latent=16, max_epochs=15, progress=False)
    ss.tl.saliency(a, progress=False)
    ss.tl.geneset_impact(a, "hallmark", groupby="cell_type", n_null=100, progress=False)
    e = a.uns["geneset_impact"]
    assert e["impact"].shape == (50, 16)
    assert e["set_table"]["used"].all()
    d = ss.get.impact_diff(a, "CD14+ Mono")
    assert d.attrs["n1"] == 480 and d["padj"].min() < 1e-6


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_null": -1}, "n_null must be at least 0"),
        ({"n_null": 1}, "n_null must be 0"),
        ({"alpha": 2.0}, r"alpha must be in \(0, 1\)"),
        ({"min_size": 0}, "min_size must be at least 1"),
    ],
)
def test_geneset_impact_bad_parameters(grouped, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ss.tl.geneset_impact(
            grouped.copy(), grouped.uns["synthetic"]["gene_sets"], progress=False, **kwargs
        )


def test_misspelt_keyword_is_an_error_not_ignored(grouped):
    # Issue 27: **resource_kwargs swallowed groupy="group" and ran without groups.
    with pytest.raises(TypeError, match="'groupy' \\(did you mean 'groupby'\\?\\)"):
        ss.tl.geneset_impact(
            grouped.copy(), grouped.uns["synthetic"]["gene_sets"], groupy="group", progress=False
        )
