import anndata as ad
import numpy as np
import pandas as pd
import pytest

import scsaliency as ss
from scsaliency import _stats
from scsaliency.genesets import as_dict, match, read_gmt, species_of

from .conftest import requires_pbmc


def test_gmt_edge_cases(tmp_path):
    p = tmp_path / "sets.gmt"
    p.write_bytes(b"A\tdesc\tg1\tG2\tg1\t\r\n\r\n\nB\thttp://x\tg3\tg4\r\nC\tonly_desc\n")
    sets = read_gmt(p)
    assert sets == {"A": ["g1", "G2"], "B": ["g3", "g4"]}
    with pytest.raises(FileNotFoundError):
        read_gmt(tmp_path / "missing.gmt")


def test_forms_agree(tmp_path):
    d = {"S1": ["a", "b", "c"], "S2": ["c", "d"]}
    df = pd.DataFrame([(k, g) for k, v in d.items() for g in v], columns=["source", "target"])
    p = tmp_path / "s.gmt"
    p.write_text("".join(f"{k}\tna\t" + "\t".join(v) + "\n" for k, v in d.items()))
    assert as_dict(d) == as_dict(df) == as_dict(p) == as_dict(str(p))
    with pytest.raises(ValueError, match="'source' and 'target'"):
        as_dict(pd.DataFrame({"a": [1]}))
    with pytest.raises(KeyError, match="Unknown gene-set resource"):
        as_dict("reactome_nope")


def test_match_case_insensitive_and_min_size():
    genes = ["CD3D", "Cd3e", "ms4a1", "LYZ", "GNLY", "NKG7"]
    sets = {"t": ["cd3d", "CD3E", "CD3G"], "nk": ["GNLY", "NKG7", "Gzmb"], "x": ["FOO"]}
    with pytest.warns(UserWarning, match=r"left out: x \(0\)"):
        m = match(sets, genes, min_size=2)
    assert m.names == ["t", "nk"]
    assert m.genes["t"] == ["CD3D", "Cd3e"]
    assert m.table.loc["t", "overlap"] == 2 and m.table.loc["t", "set_size"] == 3
    assert m.membership.sum(0).tolist() == [2, 2]
    with pytest.raises(ValueError, match="No gene set shares"):
        match({"x": ["FOO", "BAR"]}, genes, min_size=1)


def test_species_and_resources():
    assert species_of(["CD3D", "MS4A1", "RP11-1.2"]) == "human"
    assert species_of(["Cd3d", "Ms4a1", "Gata1"]) == "mouse"
    human = as_dict("hallmark", ["CD3D", "MS4A1"])
    mouse = as_dict("hallmark", ["Cd3d", "Ms4a1"])
    assert len(human) == len(mouse) == 50
    assert "Actb" in {g for s in mouse.values() for g in s}
    dmap = as_dict("dmap", n_genes=30)
    assert len(dmap) == 38 and max(map(len, dmap.values())) <= 30
    assert all("." not in g for s in dmap.values() for g in s)


def test_stats_helpers():
    p = np.array([0.01, 0.04, 0.03, 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 -> 0.04, min(0.06, 0.0533), 0.0533, 0.5
    np.testing.assert_allclose(_stats.bh_adjust(p), [0.04, 0.16 / 3, 0.16 / 3, 0.5])
    bins = _stats.expression_bins(np.arange(100.0), n_bins=10)
    assert np.bincount(bins).tolist() == [10] * 10
    rng = np.random.default_rng(0)
    sal = np.arange(100.0)[:, None]  # saliency = rank, one unit
    null, trimmed = _stats.null_impacts(sal, np.array([5, 95]), bins, 200, rng)
    # Matched draws come from the members' bins: 0-9 and 90-99.
    assert null.min() >= (0 + 90) / 2 and null.max() <= (9 + 99) / 2
    # without its strongest gene, each random pair keeps only its draw from the low bin
    assert trimmed.min() >= 0 and trimmed.max() <= 9
    high = 2 * null - trimmed  # the same draws: the pair's sum minus its low member
    assert high.min() >= 90 and high.max() <= 99
    vals = np.array([[1.0, 5.0], [7.0, 2.0], [4.0, 3.0]])  # 3 members x 2 units
    np.testing.assert_allclose(_stats.trimmed_mean(vals), [2.5, 2.5])


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
