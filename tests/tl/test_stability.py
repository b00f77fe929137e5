"""`tl.stability` and `get.programs`: how far units and their labels come back across seeds."""

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

import scsaliency as ss
from scsaliency._core.matching import matched_cosines
from scsaliency._stored import program_vectors

from ..conftest import independent_programs

SMALL = dict(n_latent=8, n_hidden=32, progress=False)


def _program_units(a, key="ortho_ae"):
    """The unit whose program puts the most weight on each planted program's genes."""
    fold = a.varm[key + "_programs"]
    sets = a.uns["synthetic"]["gene_sets"]
    out = {}
    for name in a.uns["synthetic"]["programs"]["program"]:
        genes = a.var_names.get_indexer(sets.target[sets.source == name])
        out[name] = int(np.nanmean(fold[genes], axis=0).argmax())
    return out


@pytest.fixture(scope="module")
def stable(planted):
    a = planted.copy()
    ss.tl.stability(a, a.uns["synthetic"]["gene_sets"], n_runs=2, progress=False)
    return a


def test_two_seeds_find_the_same_strong_programs():
    a = independent_programs(n_cells=1500, n_genes=300, fold_change=5.0)
    b = a.copy()
    ss.tl.ortho_ae(a, random_state=0, **SMALL)
    ss.tl.ortho_ae(b, random_state=1, **SMALL)
    match, cos = matched_cosines(
        program_vectors(a.uns["ortho_ae"]), program_vectors(b.uns["ortho_ae"])
    )
    units_a, units_b = _program_units(a), _program_units(b)
    for name, u in units_a.items():
        assert cos[u] > 0.9, (name, cos)
        assert match[u] == units_b[name]


def test_stability_columns_and_status_survive_h5ad(stable, tmp_path):
    units = ss.get.units(stable)
    for col in ("stability", "stability_cosine", "consensus_set"):
        assert col in units
    assert units["stability"].between(0, 1).all()
    assert set(units["status"]) <= {"carries a set", "no significant set", "inactive", "unstable"}
    entry = stable.uns["ortho_ae"]["stability"]
    assert entry["params"]["n_runs"] == 2 and len(entry["params"]["seeds"]) == 2
    assert np.asarray(entry["programs"]).shape == (8, stable.n_vars)
    path = tmp_path / "s.h5ad"
    stable.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert ss.get.units(back).equals(units)
    pd.testing.assert_frame_equal(ss.get.geneset_stability(back), ss.get.geneset_stability(stable))


def test_geneset_stability_counts_the_runs_that_carry_each_set(stable):
    sets = ss.get.geneset_stability(stable)
    assert list(sets.columns) == [
        "gene_set", "runs", "median_zscore", "median_zscore_trimmed", "consensus_program",
        "consensus_unit", "n_programs", "in_model",
    ]  # fmt: skip
    named = stable.uns["synthetic"]["gene_sets"]["source"].unique()
    assert sorted(sets["gene_set"]) == sorted(named)
    assert sets["runs"].is_monotonic_decreasing
    np.testing.assert_allclose(sets["runs"] * 3, np.round(sets["runs"] * 3))  # of 3 runs
    by_set = sets.set_index("gene_set")
    own = stable.uns["geneset_impact"]["units"]  # the model's own labels, before consensus
    own = set(own.loc[own["status"] == "carries a set", "gene_set"])
    for name in _program_units(stable):  # strong planted programs: in every run
        assert by_set.loc[name, "runs"] == 1.0
        assert by_set.loc[name, "in_model"] and name in own
    # the median over runs of each set's best z: high for the planted programs, low for decoys
    planted = by_set.loc[list(_program_units(stable)), "median_zscore"]
    decoys = by_set.loc[by_set.index.str.startswith("decoy"), "median_zscore"]
    assert (planted > 2).all() and (planted > 5).sum() >= 3 and (decoys < 5).all()
    # the consensus labels: exactly the sets strong in the median run (5 or more, 3 or more
    # without their strongest gene) or carried in every run
    strong = (by_set["median_zscore"] >= 5) & (by_set["median_zscore_trimmed"] >= 3)
    strong |= by_set["runs"] == 1.0
    assert ((by_set["consensus_program"] >= 0) == strong).all()
    assert ((by_set["n_programs"] >= 1) == strong).all()
    units = ss.get.units(stable).set_index("unit")
    for name, unit in by_set.loc[strong, "consensus_unit"].items():
        assert unit >= 0 and name in units.loc[unit, "consensus_sets"].split("; ")


def test_set_table_from_runs():
    from scsaliency._core.consensus import SetScores, build_set_table

    carried = [{"A", "B"}, {"A"}, {"A", "C"}, {"A"}]
    # sets x units z-scores per run; set C has none in the last two runs (inactive units)
    z = [np.array([[top, 0.0], [1.0, 2.0], [3.0, np.nan]]) for top in (6.0, 4.0, 8.0, 2.0)]
    z[2][2] = z[3][2] = np.nan
    labels = [
        SetScores(["A", "B", "C"], run, frozenset(c), run - 1.0)
        for run, c in zip(z, carried, strict=True)
    ]
    table = build_set_table(labels)
    assert table["runs"].tolist() == [1.0, 0.25, 0.25]
    # median over runs of each set's largest z over units: A 6, 4, 8, 2; B 2 each; C 3, 3
    assert table["median_zscore"].tolist() == [5.0, 2.0, 3.0]
    assert table["median_zscore_trimmed"].tolist() == [4.0, 1.0, 2.0]
    assert table["in_model"].tolist() == [True, True, False]
    untrimmed = build_set_table([run._replace(zscore_trimmed=None) for run in labels])
    assert "median_zscore_trimmed" not in untrimmed


def test_a_set_held_up_by_one_gene_is_no_finding():
    """A random set whose z-score comes from one gene (a unit following its noise) is left out."""
    from scsaliency._core.consensus import strong_sets

    sets = pd.DataFrame(
        {
            "runs": [0.5, 0.0, 1.0, 0.5],
            "median_zscore": [9.0, 6.0, 2.0, 4.0],
            "median_zscore_trimmed": [7.0, 0.4, 1.0, 4.0],
        },
        index=["real", "one gene", "every run", "weak"],
    )
    assert strong_sets(sets, 5.0).tolist() == [True, False, True, False]
    assert strong_sets(sets, 4.0).tolist() == [True, False, True, True]
    stored_before = sets.drop(columns="median_zscore_trimmed")
    assert strong_sets(stored_before, 5.0).tolist() == [True, True, True, False]


def test_each_strong_set_goes_to_the_stable_program_where_it_scores_highest():
    from scsaliency._core.consensus import owners

    # clusters x sets: median z-scores over each cluster's programs
    profiles = np.array(
        [
            [9.0, 1.0, 6.0, 0.0, 2.0],  # carries A and C: C scores higher here than anywhere stable
            [7.0, 2.0, 5.0, 0.0, 1.0],
            [1.0, 20.0, 9.0, 0.0, 9.0],  # B, C and E score highest here, but few runs hold it
            [1.0, 8.0, np.nan, 0.0, 0.0],
        ]
    )
    eligible = np.array([True, True, False, True])
    strong = np.array([True, True, True, False, True])  # D's median best z is below min_zscore
    # E is strong, but not significant (median z >= 3) on any program that most runs hold,
    # unless some unit carried it in every run
    every = np.zeros(5, dtype=bool)
    assert owners(profiles, eligible, strong, every).tolist() == [0, 3, 0, -1, -1]
    every[4] = True
    assert owners(profiles, eligible, strong, every).tolist() == [0, 3, 0, -1, 0]
    assert owners(profiles, np.zeros(4, dtype=bool), strong, every).tolist() == [-1] * 5


def test_a_program_lists_its_sets_strongest_first():
    from scsaliency._core.consensus import name_clusters

    clusters = pd.DataFrame({"runs": [1.0, 1.0], "unit": [3, -1]}, index=["0", "1"])
    sets = pd.DataFrame(index=pd.Index(["A", "B", "C"], dtype=object))
    profiles = np.array([[6.0, 9.0, 7.0], [0.0, 0.0, 0.0]])
    name_clusters(clusters, sets, profiles, np.array([0, 0, -1]), also=np.array([-1, -1]))
    assert clusters["consensus_set"].tolist() == ["B", ""]
    assert clusters["consensus_sets"].tolist() == ["B; A", ""]
    assert clusters["consensus_zscore"].iloc[0] == 9.0
    assert np.isnan(clusters["consensus_zscore"].iloc[1])
    assert sets["consensus_program"].tolist() == [0, 0, -1]
    assert sets["consensus_unit"].tolist() == [3, 3, -1]


def test_a_stable_second_copy_also_carries_its_strongest_set():
    """Two stable programs of one biology: the weaker also carries the set the other owns."""
    from scsaliency._core.consensus import best_found, name_clusters

    # clusters x sets (A, B, C); A is owned by cluster 0, B by cluster 2, C by nobody
    profiles = np.array(
        [
            [9.0, 1.0, 8.0],
            [4.5, 2.0, 9.0],  # a second copy of cluster 0's program: A is its best owned set
            [1.0, 7.0, 0.0],
            [3.5, 1.0, 0.0],  # A best, but not significant enough on this program
            [6.0, 0.0, 0.0],  # A, but few runs hold this program
        ]
    )
    eligible = np.array([True, True, True, True, False])
    owner = np.array([0, 2, -1])
    also = best_found(profiles, eligible, owner)
    assert also.tolist() == [0, 0, 1, -1, -1]
    clusters = pd.DataFrame({"runs": [1.0] * 5, "unit": [0, 1, 2, 3, 4]}, index=list("01234"))
    sets = pd.DataFrame(index=pd.Index(["A", "B", "C"], dtype=object))
    name_clusters(clusters, sets, profiles, owner, also)
    assert clusters["consensus_sets"].tolist() == ["A", "A", "B", "", ""]
    assert sets["consensus_program"].tolist() == [0, 2, -1]
    assert sets["consensus_unit"].tolist() == [0, 2, -1]
    assert sets["n_programs"].tolist() == [2, 1, 0]


def test_geneset_stability_needs_labelled_runs(trained):
    with pytest.raises(KeyError, match="tl.stability"):
        ss.pl.geneset_stability(trained, show=False)
    with pytest.raises(KeyError, match="No stability"):
        ss.get.geneset_stability(trained)
    a = trained.copy()
    ss.tl.stability(a, n_runs=2, max_epochs=3, progress=False)
    with pytest.raises(KeyError, match="without gene sets"):
        ss.get.geneset_stability(a)


def test_planted_programs_are_stable_and_carry_their_set_by_consensus(stable):
    units = ss.get.units(stable).set_index("unit")
    for name, u in _program_units(stable).items():
        assert units.loc[u, "stability"] == 1.0, name
        assert units.loc[u, "status"] == "carries a set"
        assert units.loc[u, "consensus_set"] == name


def test_units_fitted_to_noise_are_marked_unstable():
    a = ss.datasets.synthetic(n_cells=600, n_genes=200, n_programs=0, n_decoys=2, random_state=0)
    ss.tl.ortho_ae(a, random_state=0, **SMALL)
    ss.tl.stability(a, n_runs=2, progress=False)
    s = a.uns["ortho_ae"]["stability"]["units"]["stability"]
    assert (s < 0.5).mean() >= 0.5, s.to_numpy()


def test_heatmap_greys_unstable_units(stable):
    a = stable.copy()
    ax = ss.pl.impact_heatmap(a, show=False)
    shown = [t.get_text().split(":")[0] for t in ax.get_xticklabels()]
    assert all(t.get_color() != "0.6" for t in ax.get_xticklabels() if t.get_text())
    plt.close("all")
    a.uns["ortho_ae"]["stability"]["units"].loc[shown[0], "stability"] = 0.0
    units = ss.get.units(a)
    assert units.loc[units.unit == int(shown[0]), "status"].item() == "unstable"
    ax = ss.pl.impact_heatmap(a, show=False)
    colours = {t.get_text().split(":")[0]: t.get_color() for t in ax.get_xticklabels()}
    assert colours[shown[0]] == "0.6"
    assert sum(c == "0.6" for c in colours.values()) == 1
    plt.close("all")


def test_plots_grey_gene_sets_carried_in_half_of_the_runs_or_fewer(stable):
    a = stable.copy()
    ax = ss.pl.impact_heatmap(a, show=False, strip_prefix=False)
    rows = [t.get_text() for t in ax.get_yticklabels()]
    runs = a.uns["ortho_ae"]["stability"]["sets"]["runs"]
    colours = {t.get_text(): t.get_color() for t in ax.get_yticklabels()}
    assert all((colours[r] == "0.6") == (runs[r] <= 0.5) for r in rows)
    assert "grey: unstable units, and sets" in ax.get_title()
    plt.close("all")
    planted = list(_program_units(a))[0]  # carried in every run: black, until it is not
    assert planted in rows and colours[planted] != "0.6"
    a.uns["ortho_ae"]["stability"]["sets"].loc[planted, "runs"] = 0.5  # not a chained copy
    ss.tl.saliency(a, groupby="group", progress=False)  # groups for the difference map
    ss.tl.geneset_impact(a, a.uns["synthetic"]["gene_sets"], groupby="group", progress=False)
    for ax in (
        ss.pl.impact_heatmap(a, show=False, strip_prefix=False),
        ss.pl.impact_diff(a, "g0", groupby="group", show=False, strip_prefix=False),
    ):
        colours = {t.get_text(): t.get_color() for t in ax.get_yticklabels()}
        assert colours[planted] == "0.6"
        assert "unstable units, and sets that some unit carries in at most half" in ax.get_title()
    plt.close("all")


def test_geneset_stability_plot_shows_each_carried_set_once(stable, tmp_path):
    """One bar per set that some run carries, at its share of runs; seed-bound names grey."""
    table = ss.get.geneset_stability(stable)
    carried = table[table["runs"] > 0]
    ax = ss.pl.geneset_stability(stable, strip_prefix=False, show=False, save=tmp_path / "sets.png")
    assert (tmp_path / "sets.png").stat().st_size > 0
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert names == list(carried["gene_set"])  # most often carried first
    widths = [bar.get_width() for bar in ax.patches[: len(names)]]
    np.testing.assert_allclose(widths, carried["runs"])
    grey = [t.get_color() == "0.6" for t in ax.get_yticklabels()]
    assert grey == list(carried["runs"] <= 0.5)
    bold = [t.get_fontweight() == "bold" for t in ax.get_yticklabels()]
    assert bold == list(carried["median_zscore"] >= 5) and any(bold)
    dark = [bar.get_facecolor() == to_rgba("C0") for bar in ax.patches[: len(names)]]
    assert dark == list(carried["consensus_program"] >= 0)
    assert "3 runs" in ax.get_title()
    top = ss.pl.geneset_stability(stable, n_top=2, show=False)
    assert len(top.get_yticklabels()) == 2
    plt.close("all")
    with pytest.raises(ValueError, match="n_top"):
        ss.pl.geneset_stability(stable, n_top=0, show=False)
    with pytest.raises(TypeError, match="n_top must be an integer"):
        ss.pl.geneset_stability(stable, n_top=2.5, show=False)


def test_stability_bad_input(trained, counts):
    with pytest.raises(ValueError, match="n_runs must be at least 2"):
        ss.tl.stability(trained, n_runs=1, progress=False)
    with pytest.raises(ValueError, match="threshold"):
        ss.tl.stability(trained, threshold=1.5, progress=False)
    mlp = ss.tl.ortho_ae(
        counts, decoder="mlp", n_latent=4, n_hidden=8, max_epochs=2, progress=False, copy=True
    )
    with pytest.raises(ValueError, match="mlp decoder"):
        ss.tl.stability(mlp, progress=False)
    with pytest.raises(KeyError, match="No trained model"):
        ss.tl.stability(counts, progress=False)


def test_get_programs_shape_order_and_varm(trained):
    p = ss.get.programs(trained)
    n_units, genes = 8, trained.uns["ortho_ae"]["var_names"]
    assert len(p) == n_units * len(genes)
    assert list(p.columns) == ["unit", "gene", "fold_change", "counts", "rank"]
    assert (np.diff(p["unit"]) >= 0).all()
    for _, g in p.groupby("unit"):
        assert (np.diff(g["fold_change"]) <= 0).all()
        assert list(g["rank"]) == list(range(1, len(genes) + 1))
    top = ss.get.programs(trained, n_top=3)
    assert len(top) == n_units * 3 and top.groupby("unit").size().eq(3).all()
    varm = trained.varm["ortho_ae_programs"]
    first = p[p.unit == 0].set_index("gene")["fold_change"]
    np.testing.assert_allclose(
        varm[trained.var_names.get_indexer(first.index), 0], first.to_numpy()
    )
    with pytest.raises(ValueError, match="n_top"):
        ss.get.programs(trained, n_top=0)


def test_get_programs_of_the_mlp_decoder_is_a_clear_error(counts):
    a = ss.tl.ortho_ae(
        counts, decoder="mlp", n_latent=4, n_hidden=8, max_epochs=2, progress=False, copy=True
    )
    assert "ortho_ae_programs" not in a.varm
    with pytest.raises(ValueError, match="no gene programs"):
        ss.get.programs(a)


def test_n_latent_scan_gives_one_row_per_candidate_and_plots(tmp_path):
    a = independent_programs(n_cells=600, n_genes=300)
    ss.tl.n_latent_scan(a, (4, 8), n_runs=2, n_hidden=16, max_epochs=15, progress=False)
    table = a.uns["n_latent_scan"]["table"]
    assert list(table["n_latent"]) == [4, 8]
    assert table[["stability", "stable_share"]].apply(lambda c: c.between(-1, 1)).all().all()
    assert np.isfinite(table["val_loss"]).all()
    a.write_h5ad(tmp_path / "scan.h5ad")
    back = ad.read_h5ad(tmp_path / "scan.h5ad")
    ax = ss.pl.n_latent_scan(back, show=False, save=tmp_path / "scan.png")
    assert ax.get_xlabel().startswith("number of units") and (tmp_path / "scan.png").is_file()
    plt.close("all")
    with pytest.raises(ValueError, match="distinct positive"):
        ss.tl.n_latent_scan(a, (4, 4), progress=False)
    with pytest.raises(ValueError, match="decoder='additive'"):
        ss.tl.n_latent_scan(a, (4,), decoder="mlp", progress=False)


def test_max_epochs_bounds_each_run(planted, monkeypatch):
    # The runs' epochs can be capped (cheaper consensus); the cap is stored with the result.
    from scsaliency.tl import _stability

    seen = []
    real = _stability.ortho_ae

    def spy(data, **kw):
        seen.append(kw["max_epochs"])
        return real(data, **kw)

    monkeypatch.setattr(_stability, "ortho_ae", spy)
    a = planted.copy()
    ss.tl.stability(a, n_runs=2, max_epochs=3, progress=False)
    assert seen == [3, 3]
    assert a.uns["ortho_ae"]["stability"]["params"]["max_epochs"] == 3
    with pytest.raises(ValueError, match="max_epochs must be at least 1"):
        ss.tl.stability(a, n_runs=2, max_epochs=0, progress=False)


def test_consensus_leaves_out_programs_that_no_run_repeats():
    """KMeans puts three unrepeated programs in one cluster: it is no consensus program."""
    from scsaliency._core.consensus import SetScores, consensus

    eye = np.eye(6)
    shared = np.array([1.0, 0.1, 0, 0, 0, 0]) / np.hypot(1, 0.1)
    vectors = [np.stack([shared, eye[2 + r]]) for r in range(3)]
    units, clusters, centres, _ = consensus(vectors, None, 0.8, 0.5, 5.0, 0)
    repeated = int(np.argmax(centres @ shared))
    assert clusters["runs"].iloc[repeated] == 1.0
    assert clusters["runs"].iloc[1 - repeated] == 0.0  # all three counted before
    assert units["stability"].tolist() == [1.0, 1 / 3]
    np.testing.assert_allclose(centres[repeated], shared, atol=1e-6)
    # with labels: the cluster without a consensus program carries nothing
    z = np.array([[8.0, 9.0], [1.0, 1.0]])  # S1 strongest on the unrepeated programs
    labels = [SetScores(["S1", "S2"], z, frozenset({"S1"})) for _ in range(3)]
    units, clusters, _, sets = consensus(vectors, labels, 0.8, 0.5, 5.0, 0)
    assert clusters["consensus_set"].tolist()[repeated] == "S1"
    assert clusters["consensus_set"].tolist()[1 - repeated] == ""
    assert sets["consensus_program"].tolist() == [repeated, -1]
    assert units["consensus_set"].tolist() == ["S1", ""]


def test_consensus_label_is_not_decided_by_one_outlying_run():
    """Two runs put S1 just above S2; one run scores S2 far higher: the median keeps S1."""
    from scsaliency._core.consensus import SetScores, consensus

    program = np.ones((1, 4)) / 2
    z = [np.array([[10.0], [9.0]]), np.array([[10.0], [9.0]]), np.array([[0.0], [30.0]])]
    labels = [SetScores(["S1", "S2"], zz) for zz in z]
    units, clusters, _, _ = consensus([program] * 3, labels, 0.8, 0.5, 5.0, 0)
    assert clusters["consensus_set"].iloc[0] == "S1"  # the mean z-score named S2
    assert units["consensus_set"].iloc[0] == "S1"


def test_a_unit_outside_its_clusters_consensus_takes_no_label():
    """The model's second unit is lumped with the other runs' shared program: not its label."""
    from scsaliency._core.consensus import SetScores, consensus

    eye = np.eye(6)
    shared = np.array([1.0, 0.1, 0, 0, 0, 0]) / np.hypot(1, 0.1)
    other = np.array([0, 0, 1.0, 0.1, 0, 0]) / np.hypot(1, 0.1)
    vectors = [np.stack([shared, eye[5]]), np.stack([shared, other]), np.stack([shared, other])]
    z = np.array([[8.0, 1.0], [1.0, 8.0]])  # S1 on the shared program, S2 on the other
    labels = [SetScores(["S1", "S2"], z) for _ in range(3)]
    units, clusters, centres, _ = consensus(vectors, labels, 0.8, 0.5, 5.0, 0)
    lumped = int(np.argmax(centres @ other))
    assert clusters["consensus_set"].iloc[lumped] == "S2"  # the two runs' consensus
    assert units["consensus_set"].tolist() == ["S1", ""]  # the model's unit 1 was named S2
    assert units["stability"].tolist() == [1.0, 1 / 3]


def test_an_unstable_unit_names_its_consensus_set_or_else_its_own(stable):
    a = stable.copy()
    (name, u), (other, v) = list(_program_units(a).items())[:2]
    stored = a.uns["ortho_ae"]["stability"]["units"]
    stored.loc[[str(u), str(v)], "stability"] = 0.0
    stored.loc[str(u), "consensus_set"] = ""  # no consensus: the run's own set, as a lead
    units = ss.get.units(a).set_index("unit")
    assert units.loc[u, "status"] == units.loc[v, "status"] == "unstable"
    assert units.loc[u, "label"] == f"{u}: {name} (unstable)"
    assert units.loc[v, "label"] == f"{v}: {other} (unstable)"


def test_min_votes_is_deprecated(trained):
    with pytest.warns(FutureWarning, match="min_votes has no effect"):
        ss.tl.stability(trained.copy(), n_runs=2, max_epochs=1, min_votes=0.5, progress=False)


def test_report_names_every_set_a_consensus_program_carries(stable):
    from scsaliency.cli._report import _carried_units

    a = stable.copy()
    name, u = next(iter(_program_units(a).items()))
    stored = a.uns["ortho_ae"]["stability"]["units"]
    assert stored.loc[str(u), "consensus_sets"] == name  # one set each on planted data
    stored.loc[str(u), "consensus_sets"] = f"{name}; decoy3"
    rows = _carried_units(a)
    assert f"<td>{name} (also decoy3)</td>" in rows
    assert rows.count("(also") == 1


def test_results_stored_before_labels_by_set_still_read_and_plot(stable):
    """Stored by the vote per cluster: no consensus_sets, and consensus_programs per set."""
    a = stable.copy()
    stab = a.uns["ortho_ae"]["stability"]
    stab["units"] = stab["units"].drop(columns=["consensus_sets", "consensus_zscore"])
    old = stab["sets"].drop(
        columns=["median_zscore_trimmed", "consensus_program", "consensus_unit"]
    )
    old.insert(2, "consensus_programs", (stab["sets"]["consensus_program"] >= 0).astype(int))
    stab["sets"] = old
    del stab["params"]["min_zscore"]
    units = ss.get.units(a)
    assert units["consensus_sets"].equals(units["consensus_set"])
    ax = ss.pl.geneset_stability(a, show=False)
    carried = ss.get.geneset_stability(a).query("runs > 0")
    dark = [bar.get_facecolor() == to_rgba("C0") for bar in ax.patches[: len(carried)]]
    assert dark == (carried["consensus_programs"] > 0).tolist() and any(dark)
    plt.close("all")
