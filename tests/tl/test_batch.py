"""`tl.ortho_ae(batch_key=...)`: units free of batch, stored batches, transfer into a new batch."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import scsaliency as ss

from ..conftest import assert_only_new_batch_rows_moved

FAST = dict(n_latent=8, n_hidden=32, max_epochs=40, progress=False)


@pytest.fixture(scope="module")
def batched():
    """Three batches with strong per-gene capture factors and depths; programs shared."""
    return ss.datasets.synthetic(
        n_cells=900,
        n_genes=300,
        n_groups=3,
        n_samples=3,
        sample_effect=1.0,
        library_effect=0.5,
        activity="independent",
        fold_change=5.0,
        random_state=4,
    )


@pytest.fixture(scope="module")
def pair(batched):
    plain, aware = batched.copy(), batched.copy()
    ss.tl.ortho_ae(plain, **FAST)
    ss.tl.ortho_ae(aware, batch_key="sample", **FAST)
    return plain, aware


def test_batch_key_takes_batch_out_of_the_units(pair):
    plain, aware = pair
    without = ss.get.batch_share(plain, "sample")["share"].to_numpy()
    with_key = ss.get.batch_share(aware, "sample")["share"].to_numpy()
    assert with_key.max() < without.max()
    assert np.median(with_key) < np.median(without)
    e = aware.uns["ortho_ae"]
    assert list(e["params"]["batch_key"]) == ["sample"]
    assert list(e["batch_categories"]["sample"]) == ["s0", "s1", "s2"]


def test_batch_effects_table_finds_the_planted_factors(pair, batched):
    _, aware = pair
    table = ss.get.batch_effects(aware)
    assert set(table.columns) == {"batch_key", "batch", "gene", "log2_fold_change", "rank"}
    assert len(table) == 3 * len(aware.uns["ortho_ae"]["var_names"])
    top = ss.get.batch_effects(aware, n_top=5)
    assert top.groupby("batch").size().eq(5).all() and (top["rank"] <= 5).all()
    # the learned log factors are the planted ones (log-normal, sd 1), up to what is common to
    # a gene's batches (the baseline's) or to a batch's genes (the size factors')
    truth = np.log2(batched.uns["synthetic"]["sample_factors"])
    learned = table.pivot(index="batch", columns="gene", values="log2_fold_change")
    learned = learned.loc[truth.index, truth.columns].to_numpy()

    def centred(f):
        f = f - f.mean(0)
        return f - f.mean(1, keepdims=True)

    truth, learned = centred(truth.to_numpy()), centred(learned)
    assert np.corrcoef(truth.ravel(), learned.ravel())[0, 1] > 0.95
    assert np.polyfit(truth.ravel(), learned.ravel(), 1)[0] == pytest.approx(1, abs=0.15)


def test_stored_batches_round_trip_and_rebuild(pair, tmp_path):
    _, aware = pair
    path = tmp_path / "b.h5ad"
    aware.write_h5ad(path)
    back = ad.read_h5ad(path)
    module = ss.get.model(back)
    assert module.n_batch == 3
    a, b = aware.copy(), back.copy()
    ss.tl.saliency(a, progress=False)
    ss.tl.saliency(b, progress=False)
    np.testing.assert_array_equal(a.varm["saliency"], b.varm["saliency"])
    pd.testing.assert_frame_equal(ss.get.batch_effects(back), ss.get.batch_effects(aware))


def _set(name, values):
    return lambda a: a.obs.__setitem__(name, values(a.n_obs))


@pytest.mark.parametrize(
    ("mutate", "key", "error", "match"),
    [
        (_set("s", lambda n: np.where(np.arange(n) % 2, "a", "b")), "s", None, None),
        (_set("s", lambda n: np.arange(n) % 3), "s", None, None),
        (_set("f", lambda n: np.arange(n) / 3.0), "f", ValueError, "float column"),
        (lambda a: None, "nope", KeyError, "batch_key='nope' is not a column"),
        (
            _set("s", lambda n: np.where(np.arange(n) == 0, None, "b")),
            "s",
            ValueError,
            "1 cells without a batch",
        ),
        (
            _set("s", lambda n: np.where(np.arange(n) == 0, "lone", "b")),
            "s",
            ValueError,
            "fewer than 2 cells",
        ),
        (lambda a: None, ["sample", "sample"], ValueError, "distinct names"),
    ],
)
def test_batch_keys_checked_before_training(batched, mutate, key, error, match):
    a = batched[:200].copy()
    mutate(a)
    kw = dict(batch_key=key, n_latent=4, n_hidden=8, max_epochs=2, progress=False)
    if error is None:  # strings and integers are categories
        ss.tl.ortho_ae(a, **kw)
        assert a.uns["ortho_ae"]["weights"]["batch_log"].shape[0] == len(set(a.obs[key]))
        return
    with pytest.raises(error, match=match):
        ss.tl.ortho_ae(a, **kw)
    assert "ortho_ae" not in a.uns


def test_transfer_into_a_new_batch_fits_only_its_parameters(batched):
    ref = batched[batched.obs["sample"] != "s2"].copy()
    ref.obs["sample"] = ref.obs["sample"].cat.remove_unused_categories()
    ss.tl.ortho_ae(ref, batch_key="sample", **FAST)
    query = batched.copy()  # s0 and s1 known, s2 new
    ss.tl.transfer(query, ref, fit_epochs=20)
    e = query.uns["ortho_ae"]
    assert list(e["batch_categories"]["sample"]) == ["s0", "s1", "s2"]
    assert list(e["transfer"]["fitted_batches"]["sample"]) == ["s2"]
    old, new = ref.uns["ortho_ae"]["weights"], e["weights"]
    assert_only_new_batch_rows_moved(old, new, n_known=2)
    assert not np.array_equal(np.asarray(new["batch_log"])[2], np.asarray(old["batch_log"]).mean(0))
    # cells of known batches are represented as in the reference (up to float rounding: the
    # batch columns are one longer)
    known = (query.obs["sample"] != "s2").to_numpy()
    np.testing.assert_allclose(
        query.obsm["X_ortho_ae"][known], ref.obsm["X_ortho_ae"], rtol=1e-6, atol=1e-6
    )
    loss = np.asarray(e["transfer"]["fit_loss"])
    assert loss[-1] < loss[0]
    # the saliency runs on the query, new batch included
    ss.tl.saliency(query, groupby="sample", progress=False)


def test_model_with_batches_refuses_unseen_batches_outside_transfer(pair):
    _, aware = pair
    b = aware.copy()
    b.obs["sample"] = b.obs["sample"].cat.rename_categories({"s2": "s9"})
    with pytest.raises(ValueError, match="not trained on \\(s9\\).*tl.transfer"):
        ss.tl.saliency(b, progress=False)


def test_cli_batch_key_reaches_the_model(batched, tmp_path):
    from scsaliency.cli import main

    path = tmp_path / "in.h5ad"
    batched[:300].copy().write_h5ad(path)
    gmt = tmp_path / "s.gmt"
    gmt.write_text("S\tna\t" + "\t".join(f"gene{i}" for i in range(20)) + "\n")
    out = tmp_path / "out"
    argv = ["run", str(path), "--gene-sets", str(gmt), "--genes", "all", "--quiet"]
    argv += ["--n-latent", "4", "--max-epochs", "3", "--batch-key", "sample", "--out", str(out)]
    assert main(argv) == 0
    stored = ad.read_h5ad(out / "adata.h5ad").uns["ortho_ae"]
    assert list(stored["params"]["batch_key"]) == ["sample"]
    assert stored["consensus"]["params"]["n_runs"] == 6  # the default consensus model, batched too
    back = ad.read_h5ad(out / "adata.h5ad")  # the UMAP's graph built on the aligned units
    assert back.obsm["X_ortho_ae_aligned"].shape == back.obsm["X_ortho_ae"].shape
    assert back.uns["ortho_ae_neighbors"]["params"]["use_rep"] == "X_ortho_ae_aligned"
    report = (out / "report.html").read_text()
    assert "batches kept out of the units: sample (3)" in report and "tl.align" in report
    assert main([*argv[:-2], "--batch-key", "nope", "--out", str(out)]) == 2


def test_stability_runs_see_the_models_batches(pair, monkeypatch):
    import scsaliency.tl._stability as stability

    _, aware = pair
    seen = []
    real = stability.ortho_ae

    def spy(data, **kw):
        seen.append((kw.get("batch_key"), sorted(set(data.obs["sample"]))))
        return real(data, **kw)

    monkeypatch.setattr(stability, "ortho_ae", spy)
    a = aware.copy()
    ss.tl.stability(a, n_runs=2, max_epochs=5, progress=False)
    assert seen == [(["sample"], ["s0", "s1", "s2"])] * 2
    assert a.uns["ortho_ae"]["stability"]["units"]["stability"].between(0, 1).all()


def test_batch_share_is_the_variance_between_batches():
    """Eta squared per unit: 1 for a unit that only tells batches apart, 0 for one they share."""
    a = ad.AnnData(np.zeros((8, 2), dtype=np.float32))
    a.obs["donor"] = pd.Categorical(list("aaaabbbb"))
    a.obs["run"] = pd.Categorical(list("xyxyxyxy"))
    # unit 0 follows the donor, unit 1 the run (balanced within each donor)
    a.obsm["X_ortho_ae"] = np.stack(
        [np.where(a.obs["donor"] == "a", 1.0, 3.0), np.where(a.obs["run"] == "x", 0.0, 2.0)], 1
    )
    table = ss.get.batch_share(a, ["donor", "run"])
    assert list(table.columns) == ["batch_key", "unit", "share"]
    share = table.set_index(["batch_key", "unit"])["share"]
    assert share["donor", "0"] == pytest.approx(1.0) and share["run", "1"] == pytest.approx(1.0)
    assert share["donor", "1"] == pytest.approx(0.0) and share["run", "0"] == pytest.approx(0.0)
    with pytest.raises(KeyError, match="not a column"):
        ss.get.batch_share(a, "sample")
    a.obs.loc[a.obs_names[[0, 4]], "donor"] = np.nan  # cells without a donor are left out
    assert ss.get.batch_share(a, "donor")["share"].iloc[0] == pytest.approx(1.0)
    with pytest.raises(KeyError, match="tl.ortho_ae"):
        ss.get.batch_share(a, "donor", key="other")
