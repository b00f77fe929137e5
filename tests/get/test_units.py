"""`get.units`: which unit carries which set, and the rule behind it."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import scsaliency as ss
from scsaliency._core.labels import diagonal_order, label_units


def test_unit_table_columns_labels_and_status():
    idx = ["A", "B", "C"]
    cols = ["0", "1", "2", "3"]
    z = pd.DataFrame(
        [[9.0, 0.5, 0.1, np.nan], [0.2, 1.0, 6.0, np.nan], [0.1, 0.3, 0.2, np.nan]],
        index=idx,
        columns=cols,
    )
    padj = pd.DataFrame(
        [[1e-9, 0.5, 0.9, np.nan], [0.9, 0.3, 1e-5, np.nan], [0.9, 0.9, 0.9, np.nan]],
        index=idx,
        columns=cols,
    )
    impact = pd.DataFrame(np.ones((3, 4)), index=idx, columns=cols)
    t = label_units(impact, zscore=z, padj=padj, inactive=["3"])
    assert list(t.index) == cols
    assert list(t["gene_set"]) == ["A", "B", "B", ""]
    assert list(t["status"]) == [
        "carries a set",
        "no significant set",
        "carries a set",
        "inactive",
    ]
    assert list(t["label"]) == ["0: A", "1: no significant set", "2: B", "3: inactive"]
    assert t.loc["0", "margin"] == pytest.approx(9.0 - 0.2)
    assert t.loc["0", "share"] == pytest.approx(9.0 / (9.0 + 0.5 + 0.1))
    assert t.loc["2", "owner"] and not t.loc["1", "owner"]


def test_near_ties_are_shown_together_not_flipped_by_a_threshold():
    """Overlapping sets within TIE_RATIO of the best, carried too, share the label; a set
    not carried (not significant without its strongest gene) or far behind does not."""
    from scsaliency._core.labels import TIE_RATIO

    idx, cols = ["IFN_ALPHA", "IFN_GAMMA", "ONE_GENE", "FAR"], ["0", "1"]
    z = pd.DataFrame(
        [[10.0, 10.0], [10.0 * TIE_RATIO + 0.1, 9.0], [9.5, 3.0], [3.0, 10.0 * TIE_RATIO - 0.1]],
        index=idx,
        columns=cols,
    )
    padj = pd.DataFrame(np.full((4, 2), 1e-6), index=idx, columns=cols)
    trimmed = padj.copy()
    trimmed.loc["ONE_GENE"] = 0.5
    impact = pd.DataFrame(np.ones((4, 2)), index=idx, columns=cols)
    t = label_units(impact, zscore=z, padj=padj, padj_trimmed=trimmed, inactive=[])
    # unit 0: ONE_GENE ranks second but is not carried, so the tie stops there
    assert t.loc["0", "gene_sets"] == "IFN_ALPHA"
    assert t.loc["1", "gene_sets"] == "IFN_ALPHA / IFN_GAMMA"
    assert t.loc["1", "label"] == "1: IFN_ALPHA / IFN_GAMMA"
    assert t.loc["1", "gene_set"] == "IFN_ALPHA"  # the strongest stays the unit's set
    z.loc["IFN_GAMMA", "0"] = 10.0 * TIE_RATIO - 0.1
    z.loc["ONE_GENE", "0"] = 0.0
    t = label_units(impact, zscore=z, padj=padj, padj_trimmed=trimmed, inactive=[])
    assert t.loc["0", "gene_sets"] == "IFN_ALPHA"


def test_unit_table_needs_the_set_without_its_strongest_gene_too():
    idx, cols = ["A", "B"], ["0", "1"]
    z = pd.DataFrame([[9.0, 8.0], [0.1, 0.2]], index=idx, columns=cols)
    padj = pd.DataFrame([[1e-9, 1e-8], [0.9, 0.9]], index=idx, columns=cols)
    # unit 1's A is carried by one gene: without it, A is not significant there
    trimmed = pd.DataFrame([[1e-6, 0.4], [0.9, 0.9]], index=idx, columns=cols)
    impact = pd.DataFrame(np.ones((2, 2)), index=idx, columns=cols)
    t = label_units(impact, zscore=z, padj=padj, padj_trimmed=trimmed, inactive=[])
    assert list(t["status"]) == ["carries a set", "no significant set"]
    assert list(t["label"]) == ["0: A", "1: no significant set"]
    assert t.loc["1", "gene_set"] == "A" and t.loc["1", "padj_trimmed"] == pytest.approx(0.4)
    # without the trimmed test both units carry A, as before
    t = label_units(impact, zscore=z, padj=padj, inactive=[])
    assert (t["status"] == "carries a set").all() and t["padj_trimmed"].isna().all()


def test_unit_table_without_null_ranks_by_standardised_impact():
    impact = pd.DataFrame(
        [[1.0, 1.0, 3.0], [5.0, 2.0, 5.0]], index=["A", "B"], columns=["0", "1", "2"]
    )
    t = label_units(impact, zscore=None, padj=None, inactive=[])
    # set B has the higher raw impact everywhere, but unit 2 stands out on A
    assert t.loc["2", "gene_set"] == "A"
    assert (t["status"] == "carries a set").all()


def test_diagonal_order_puts_each_units_best_set_beside_it():
    z = pd.DataFrame(
        [[0, 0, 5], [4, 0, 0], [0, 3, 0]],
        index=["S1", "S2", "S3"],
        columns=["a", "b", "c"],
        dtype=float,
    )
    rows, cols = diagonal_order(z, list(z.columns))
    assert cols == ["c", "a", "b"] and rows == ["S1", "S2", "S3"]


def test_strong_planted_program_is_the_top_set_of_exactly_one_unit(planted):
    t = ss.get.units(planted)
    carried = t.loc[t["status"] == "carries a set", "gene_set"]
    # every planted program is carried, no decoy is, and the units that follow a program are
    # named by programs
    assert {f"program{p}" for p in range(4)} <= set(carried)
    assert not any(s.startswith("decoy") for s in carried)
    act = planted.obs[[f"program{p}_activity" for p in range(4)]].to_numpy()
    z = planted.obsm["X_ortho_ae"]
    r = np.abs(np.corrcoef(z.T, act.T)[: z.shape[1], z.shape[1] :]).max(1)
    named = np.where(t["status"] == "carries a set", t["gene_set"], "")[r > 0.5]
    assert len(named) >= 4 and not any(s.startswith("decoy") for s in named)
    owners = t[t["owner"]]
    for p in range(4):
        assert (owners["gene_set"] == f"program{p}").sum() == 1


def test_units_table_round_trips(planted, tmp_path):
    path = tmp_path / "p.h5ad"
    planted.write_h5ad(path)
    pd.testing.assert_frame_equal(ss.get.units(ad.read_h5ad(path)), ss.get.units(planted))


def test_every_get_table_has_integer_units(planted):
    # Issue 27: int64 in get.units, strings elsewhere, so the tables did not join.
    a = planted.copy()
    tables = [ss.get.units(a), ss.get.impact(a), ss.get.saliency(a), ss.get.programs(a)]
    if "groups" in a.uns["geneset_impact"]:
        tables.append(ss.get.impact_diff(a, str(a.uns["geneset_impact"]["groups"][0])))
    for t in tables:
        assert t["unit"].dtype == np.int64, t.columns
    joined = ss.get.impact(a).merge(ss.get.units(a)[["unit", "label"]], on="unit")
    assert len(joined) == len(ss.get.impact(a))


def test_only_listed_units_are_inactive_even_without_scores():
    """One rule decides which units are inactive: an active unit on which no set has a finite
    score (one active unit, nothing to standardise against) has no set, not "inactive"."""
    idx, cols = ["A", "B"], ["0", "1"]
    impact = pd.DataFrame([[1.0, 0.0], [0.5, 0.0]], index=idx, columns=cols)
    t = label_units(impact, zscore=None, padj=None, inactive=["1"])
    assert list(t["status"]) == ["no significant set", "inactive"]
    assert t.loc["0", "label"] == "0: no significant set"
