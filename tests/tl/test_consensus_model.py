"""The consensus model: tl.ortho_ae(n_runs > 1) keeps the programs that repeated runs reproduce."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import scsaliency as ss
from scsaliency._core.consensus import cluster_programs, median_direction
from scsaliency._core.matching import matched_cosines
from scsaliency._stored import program_vectors
from scsaliency.tl._ortho_ae import CONSENSUS_COSINE, MIN_SHARE

from ..conftest import independent_programs

SMALL = dict(n_latent=8, n_hidden=32, max_epochs=40, progress=False)


def _data():
    """Strong planted programs, active independently: every run should find them."""
    return independent_programs(n_cells=800, n_genes=300, fold_change=5.0)


@pytest.fixture(scope="module")
def answers():
    """Two consensus answers with disjoint seeds, explained with the planted sets."""
    out = []
    for seed in (0, 1):
        a = _data()
        ss.tl.ortho_ae(a, n_runs=3, random_state=seed, **SMALL)
        ss.tl.saliency(a, progress=False)
        ss.tl.geneset_impact(a, a.uns["synthetic"]["gene_sets"], n_null=200, progress=False)
        out.append(a)
    return out


def test_units_are_the_consensus_programs(answers):
    """The model's programs are the medians of the clusters of its runs' programs, refitted
    without moving them; its runs are the single runs of the stored seeds."""
    a = answers[0]
    entry = a.uns["ortho_ae"]
    seeds = entry["consensus"]["params"]["seeds"]
    assert len(seeds) == 3 and entry["params"]["n_runs"] == 3
    runs = [ss.tl.ortho_ae(_data(), random_state=int(s), copy=True, **SMALL) for s in seeds]
    vectors = [program_vectors(r.uns["ortho_ae"]) for r in runs]
    found = cluster_programs(vectors, CONSENSUS_COSINE, MIN_SHARE)
    # the network uses |P|: a program is the absolute value of its stored weights
    folds = [np.abs(r.uns["ortho_ae"]["weights"]["decoder.P"]) for r in runs]
    expected = np.stack(
        [median_direction(np.stack([folds[r][u] for r, u in m])) for m in found.members]
    )
    model = np.abs(np.asarray(entry["weights"]["decoder.P"]))
    assert model.shape == expected.shape == (entry["params"]["n_latent"], 300)
    np.testing.assert_allclose(model, expected, rtol=1e-4, atol=1e-6)
    units = entry["consensus"]["units"]
    np.testing.assert_allclose(units["runs"].to_numpy(), found.runs)
    assert (units["runs"] >= MIN_SHARE).all()
    assert a.obsm["X_ortho_ae"].shape == (a.n_obs, len(expected))


def test_two_seeds_give_the_same_units_labels_and_activities(answers):
    """The planted programs are units of both answers, with the same labels and activities."""
    a, b = answers
    if len(program_vectors(a.uns["ortho_ae"])) > len(program_vectors(b.uns["ortho_ae"])):
        a, b = b, a
    va, vb = (program_vectors(x.uns["ortho_ae"]) for x in (a, b))
    match, cos = matched_cosines(va, vb)
    ua, ub = ss.get.units(a), ss.get.units(b)
    planted = {f"program{k}" for k in range(4)}
    for units in (ua, ub):
        assert set(units.loc[units.status == "carries a set", "gene_set"]) == planted
    za, zb = a.obsm["X_ortho_ae"], b.obsm["X_ortho_ae"]
    carrying = np.flatnonzero(ua.status == "carries a set")
    for i in carrying:  # each planted program's unit and its match in the other answer
        j = match[i]
        assert cos[i] > 0.95
        assert ua.gene_set.iloc[i] == ub.gene_set.iloc[j]
        assert np.corrcoef(za[:, i], zb[:, j])[0, 1] > 0.9


def test_units_table_shows_the_share_of_runs_and_no_unit_is_unstable(answers):
    a = answers[0]
    units = ss.get.units(a)
    share = a.uns["ortho_ae"]["consensus"]["units"]["runs"].to_numpy()
    np.testing.assert_allclose(units["stability"].to_numpy(), share)
    assert not (units["status"] == "unstable").any()


def test_the_consensus_model_survives_h5ad_and_transfers(answers, tmp_path):
    a = answers[0]
    path = tmp_path / "a.h5ad"
    a.write_h5ad(path)
    back = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(
        back.uns["ortho_ae"]["consensus"]["units"], a.uns["ortho_ae"]["consensus"]["units"]
    )
    query = _data()[::3].copy()
    ss.tl.transfer(query, back)
    np.testing.assert_allclose(
        query.obsm["X_ortho_ae"], a[::3].obsm["X_ortho_ae"], rtol=1e-4, atol=1e-5
    )
    ss.tl.saliency(query, progress=False)
    ss.tl.geneset_impact(query, a.uns["synthetic"]["gene_sets"], n_null=50, progress=False)
    assert ss.get.units(query)["stability"].notna().all()
    ss.pl.impact_heatmap(query, show=False)


def test_a_consensus_model_is_deterministic(answers):
    again = _data()
    ss.tl.ortho_ae(again, n_runs=3, random_state=0, **SMALL)
    np.testing.assert_array_equal(again.obsm["X_ortho_ae"], answers[0].obsm["X_ortho_ae"])


def test_bad_n_runs_and_decoders_are_refused_before_training(counts):
    with pytest.raises(ValueError, match="n_runs"):
        ss.tl.ortho_ae(counts, n_runs=0, progress=False)
    with pytest.raises(ValueError, match="additive"):
        ss.tl.ortho_ae(counts, n_runs=3, decoder="mlp", progress=False)


def test_stability_refuses_a_consensus_model(answers):
    with pytest.raises(ValueError, match="consensus model"):
        ss.tl.stability(answers[0].copy(), n_runs=2, progress=False)


def test_clusters_keep_only_programs_most_runs_reproduce():
    rng = np.random.default_rng(0)
    shared = rng.random((3, 50))
    runs = []
    for _ in range(4):
        noise = rng.random((3, 50))  # programs of one run only
        own = shared + 0.05 * rng.random((3, 50))
        v = np.concatenate([own, noise])
        runs.append(v / np.linalg.norm(v, axis=1, keepdims=True))
    found = cluster_programs(runs, 0.95, 0.5)
    assert len(found.members) == 3
    assert (found.runs == 1.0).all()
    for members in found.members:  # one program of each run, the same shared one
        assert sorted(members[:, 0]) == [0, 1, 2, 3]
        assert len(set(members[:, 1])) == 1


def test_a_consensus_model_with_batches_refits_the_batch_parameters():
    a = ss.datasets.synthetic(
        n_cells=400, n_genes=150, n_groups=2, n_programs=3, n_decoys=2, program_size=12,
        activity="independent", n_samples=4, sample_effect=0.3, random_state=3,
    )  # fmt: skip
    ss.tl.ortho_ae(a, batch_key="sample", n_runs=2, **SMALL)
    entry = a.uns["ortho_ae"]
    n_units = entry["params"]["n_latent"]
    assert a.obsm["X_ortho_ae"].shape == (a.n_obs, n_units)
    assert np.abs(np.asarray(entry["weights"]["batch_log"])).max() > 0  # fitted, not zeros
    effects = ss.get.batch_effects(a)
    assert set(effects["batch"]) == set(a.obs["sample"].astype(str))
