"""The plots: what they show, labels, sizes, errors."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import scsaliency as ss


def _labels(ax, axis="y"):
    ticks = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    return [t.get_text() for t in ticks]


def test_impact_heatmap_default(pbmc_results, tmp_path):
    rc_before = dict(plt.rcParams)
    ax = ss.pl.impact_heatmap(pbmc_results, show=False, save=tmp_path / "heat.png")
    assert (tmp_path / "heat.png").stat().st_size > 10_000
    rows = _labels(ax)
    assert 0 < len(rows) <= 30
    assert not any(r.startswith("HALLMARK_") or "_" in r for r in rows)
    img = ax.images[0]
    lo, hi = img.get_clim()  # default: z-scores on a symmetric scale
    assert lo == -hi and hi > 0
    assert img.get_array().shape == (len(rows), len(_labels(ax, "x")))
    units = ss.get.units(pbmc_results).set_index("unit")
    shown = [int(lab.split(":")[0]) for lab in _labels(ax, "x")]
    inactive = set(pbmc_results.uns["geneset_impact"]["inactive_units"])
    assert not inactive & {str(u) for u in shown}
    # labels name the set each unit carries first, then its near-ties (gene_sets)
    for col, u in enumerate(shown):
        row = units.loc[u]
        if row["status"] == "carries a set" and row["owner"]:
            names = [
                n.removeprefix("HALLMARK_").removeprefix("MARKERS_").replace("_", " ")
                for n in row["gene_sets"].split(" / ")
            ]
            assert names[0] == row["gene_set"].removeprefix("HALLMARK_").removeprefix(
                "MARKERS_"
            ).replace("_", " ")
            assert _labels(ax, "x")[col] == f"{u}: " + " / ".join(names)
    cbar = ax.figure.axes[-1]
    assert cbar.get_ylabel() == "z-score vs matched random sets"
    assert dict(plt.rcParams) == rc_before  # no global style changes


def test_impact_heatmap_paper_view(pbmc_results):
    ax = ss.pl.impact_heatmap(pbmc_results, values="scaled", order="cluster", show=False)
    assert ax.images[0].get_clim() == (0, 1)
    assert ax.figure.axes[-1].get_ylabel() == "scaled impact"


def test_impact_heatmap_all_sets_readable(pbmc_results, tmp_path):
    fig = ss.pl.impact_heatmap(pbmc_results, top=None, min_impact=0, return_fig=True)
    ax = fig.axes[0]
    n_rows = len(pbmc_results.uns["geneset_impact"]["impact"])
    assert len(_labels(ax)) == n_rows
    fig.savefig(tmp_path / "all.png")
    # Row labels must not overlap: each label's box is shorter than the row pitch.
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_yticklabels()]
    pitch = abs(boxes[1].y0 - boxes[0].y0)
    assert max(b.height for b in boxes) < pitch
    xboxes = [t.get_window_extent() for t in ax.get_xticklabels()]
    xpitch = abs(xboxes[1].x0 - xboxes[0].x0)
    assert max(b.width for b in xboxes) < xpitch


def test_impact_heatmap_zscore_and_ax(pbmc_results):
    fig, ax = plt.subplots()
    out = ss.pl.impact_heatmap(pbmc_results, values="zscore", ax=ax, show=False)
    assert out is ax
    lo, hi = ax.images[0].get_clim()
    assert lo == -hi and hi > 0
    with pytest.raises(ValueError, match="values must be"):
        ss.pl.impact_heatmap(pbmc_results, values="nope", show=False)
    with pytest.raises(ValueError, match="min_impact"):
        ss.pl.impact_heatmap(pbmc_results, values="scaled", min_impact=2, show=False)


def test_impact_heatmap_groups(pbmc_results, tmp_path):
    axes = ss.pl.impact_heatmap(
        pbmc_results, groups=["NK", "B"], show=False, save=tmp_path / "groups.png"
    )
    assert len(axes) == 2
    assert axes[0].get_title() == "NK (n=155)" and axes[1].get_title() == "B (n=344)"
    assert axes[0].images[0].get_array().shape == axes[1].images[0].get_array().shape
    with pytest.raises(KeyError, match="Unknown groups"):
        ss.pl.impact_heatmap(pbmc_results, groups=["nope"], show=False)


def test_impact_diff_plot(pbmc_results, tmp_path):
    ax = ss.pl.impact_diff(
        pbmc_results, "NK", groupby="cell_type", show=False, save=tmp_path / "d.png"
    )
    assert ax.get_title().startswith("NK (n=155) vs rest (n=2483)")
    assert "Welch" in ax.get_title() and "overstate" in ax.get_title()
    low, high = ax.images[0].get_clim()
    shown = ax.images[0].get_array()
    assert low == -high and np.isclose(high, np.abs(shown).max())  # centred, spans the data
    # Both groups on one scale: a scaled difference has the sign of the difference. Before,
    # each group was min-max scaled on its own, and 98 % of NK's pairs came out negative.
    d = ss.get.impact_diff(pbmc_results, "NK")
    assert (np.sign(d["scaled_diff"]) == np.sign(d["diff"])).all()
    span = np.ptp(np.r_[d["impact1"], d["impact2"]])
    assert np.allclose(d["scaled_diff"] * span, d["diff"])
    assert ax.images[0].get_cmap().name.startswith("RdBu")
    data = ax.images[0].get_array()
    assert np.ma.is_masked(data) and data.count() > 0  # low-impact cells greyed, others shown
    assert (tmp_path / "d.png").exists()
    ax = ss.pl.impact_diff(pbmc_results, "NK", "B", groupby="cell_type", mask_low=False, show=False)
    assert "vs B (n=344)" in ax.get_title()
    with pytest.raises(ValueError, match="groupby='cell_type', not 'other'"):
        ss.pl.impact_diff(pbmc_results, "NK", groupby="other", show=False)


def test_training_history(pbmc_results, tmp_path):
    axes = ss.pl.training_history(pbmc_results, show=False, save=tmp_path / "h.png")
    assert len(axes) == 3
    n = len(pbmc_results.uns["ortho_ae"]["history"])
    assert len(axes[0].lines[0].get_xdata()) == n
    assert {line.get_label() for line in axes[0].lines} >= {"train", "validation"}
    best = pbmc_results.uns["ortho_ae"]["params"]["best_epoch"] + 1
    assert any(np.allclose(line.get_xdata(), best) for line in axes[0].lines[2:])
    assert axes[1].get_yscale() == "log"


def test_unit_activity(pbmc_results, tmp_path):
    a = pbmc_results.copy()
    sc.pp.neighbors(a, use_rep="X_ortho_ae", random_state=0)
    sc.tl.umap(a, random_state=0)
    obs_before = list(a.obs.columns)
    axes = ss.pl.unit_activity(a, gene_set="MARKERS_NK", n_units=2, show=False)
    assert len(axes) == 2 and axes[0].get_title().startswith("unit ")
    top = ss.pl._unit_activity.top_units(a, "MARKERS_NK", 2)
    # top units rank by z-score; titles carry the unit table's labels
    z = a.uns["geneset_impact"]["zscore"].loc["MARKERS_NK"]
    assert z[str(top[0])] == z.max()
    labels = ss.get.units(a).set_index("unit")["label"]
    for ax, u in zip(axes, top, strict=True):
        assert ax.get_title().startswith(f"unit {u}: ")
        if labels[u] == f"{u}: MARKERS_NK":  # set names are shown without their prefix
            assert ax.get_title() == f"unit {u}: NK"
    assert list(a.obs.columns) == obs_before
    ax = ss.pl.unit_activity(a, [0], show=False)
    assert ax.get_title().startswith("unit 0: ")
    with pytest.raises(ValueError, match="do not exist"):
        ss.pl.unit_activity(a, [999], show=False)


def test_plots_use_unit_labels(planted):
    ax = ss.pl.impact_heatmap(planted, show=False)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert any(lab.endswith(": program0") for lab in labels)
    plt.close("all")
    ax = ss.pl.impact_heatmap(planted, values="scaled", order="cluster", show=False)
    assert ax.images[0].get_clim() == (0, 1)
    plt.close("all")
    planted.obs["prog0"] = pd.Categorical(
        np.where(planted.obs["program0_activity"] > 0, "on", "off")
    )
    b = planted.copy()
    ss.tl.geneset_impact(
        b, b.uns["synthetic"]["gene_sets"], n_null=50, groupby="prog0", progress=False
    )
    ax = ss.pl.impact_diff(b, "on", groupby="prog0", show=False)
    assert any(": program0" in t.get_text() for t in ax.get_xticklabels())
    plt.close("all")
    b.obsm["X_umap"] = np.asarray(b.obsm["X_ortho_ae"][:, :2])
    axes = ss.pl.unit_activity(b, gene_set="program0", n_units=1, show=False)
    axes = axes if isinstance(axes, list) else [axes]
    assert axes[0].get_title().endswith(": program0")
    plt.close("all")


def test_heatmap_rejects_unknown_order(planted):
    with pytest.raises(ValueError, match="order must be"):
        ss.pl.impact_heatmap(planted, order="random", show=False)


def test_plot_and_data_bad_parameters(grouped):
    with pytest.raises(ValueError, match="top must be at least 1"):
        ss.pl.impact_heatmap(grouped, top=0, show=False)
    with pytest.raises(ValueError, match="n_cells must be at least 1"):
        ss.datasets.synthetic(n_cells=0)
    fresh = ss.datasets.synthetic(n_cells=50, n_genes=200)
    with pytest.raises(KeyError, match="No training history.*Run scsaliency.tl.ortho_ae"):
        ss.pl.training_history(fresh, show=False)


def test_titles_say_what_is_shown(pbmc_results):
    # Issue 27: the scaled and the z-score heatmaps had the same title; the loss went below 0
    # without saying why.
    z = ss.pl.impact_heatmap(pbmc_results, show=False).get_title()
    scaled = ss.pl.impact_heatmap(pbmc_results, values="scaled", show=False).get_title()
    assert z != scaled and "z-score" in z and "min-max" in scaled
    axes = ss.pl.training_history(pbmc_results, show=False)
    assert "log(k!)" in axes[0].get_ylabel()
    plt.close("all")


def test_one_group_given_as_a_string_is_one_group(grouped):
    """As in scanpy, groups="A" means the group "A", not its letters."""
    one = ss.pl.impact_heatmap(grouped, groups="A", show=False)
    listed = ss.pl.impact_heatmap(grouped, groups=["A"], show=False)
    assert len(one) == len(listed) == 1
    assert one[0].get_title() == listed[0].get_title()
    plt.close("all")


def test_unit_numbers_must_be_whole(grouped):
    a = grouped.copy()
    a.obsm["X_umap"] = a.obsm["X_ortho_ae"][:, :2]
    with pytest.raises(TypeError, match="whole unit numbers"):
        ss.pl.unit_activity(a, units=[0.5], show=False)
    with pytest.raises(TypeError, match="whole unit numbers"):
        ss.pl.unit_activity(a, units=["0"], show=False)
    assert ss.pl.unit_activity(a, units=[1.0], show=False) is not None
    plt.close("all")
