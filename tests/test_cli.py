"""The command line: the main job, flags, one-line errors, samples, references."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import scsaliency as ss
from scsaliency.cli import main

from .conftest import _have, requires_pbmc


@requires_pbmc
def test_cli_end_to_end(tmp_path):
    out = tmp_path / "run"
    rc = main(
        [
            "run",
            "pbmc3k",
            "--gene-sets",
            "pbmc_markers",
            "--groupby",
            "cell_type",
            "--out",
            str(out),
            "--max-epochs",
            "10",
            "--n-latent",
            "8",
            "--saliency-method",
            "guided_x_input",
            "--quiet",
        ]
    )
    assert rc == 0
    for f in (
        "adata.h5ad",
        "impact.csv",
        "impact_diff.csv",
        "umap.png",
        "impact_heatmap.png",
        "impact_scaled.png",
        "units.csv",
        "training_history.png",
        "impact_diff_NK.png",
        "report.html",
    ):
        assert (out / f).stat().st_size > 0, f
    a = ad.read_h5ad(out / "adata.h5ad")
    assert a.obsm["X_ortho_ae"].shape[0] == 2638
    # the UMAP's neighbour graph is built on the square root of the units
    np.testing.assert_allclose(a.obsm["X_ortho_ae_sqrt"], np.sqrt(a.obsm["X_ortho_ae"]))
    assert a.uns["ortho_ae_neighbors"]["params"]["use_rep"] == "X_ortho_ae_sqrt"
    assert {"ortho_ae", "saliency", "geneset_impact"} <= set(a.uns)
    assert a.uns["saliency"]["params"]["method"] == "guided_x_input"
    assert a.uns["ortho_ae"]["params"]["decoder"] == "additive"
    # the consensus model of 6 runs by default: every unit came back in at least half of them
    consensus = a.uns["ortho_ae"]["consensus"]
    assert consensus["params"]["n_runs"] == 6
    assert a.obsm["X_ortho_ae"].shape[1] == len(consensus["units"])
    units = pd.read_csv(out / "units.csv")
    assert (units["stability"] >= 0.5).all() and "unstable" not in set(units["status"])
    assert "the consensus of 6 runs with other seeds" in (out / "report.html").read_text()
    diff = pd.read_csv(out / "impact_diff.csv")
    assert set(diff["group1"]) == set(a.obs["cell_type"].cat.categories)
    report = (out / "report.html").read_text()
    assert "impact_diff_NK.png" in report and "Tests with cells as replicates" in report
    assert "additive decoder" in report and "saliency: guided_x_input" in report
    assert "centred encoder input" in report and "size factors" in report
    assert "units scaled by their program" in report
    assert set(diff["test"]) == {"cells, Welch's t-test"}


@requires_pbmc
@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (
            [],
            {
                "decoder": "additive",
                "center_input": None,
                "library_size": True,
                "scale_units": True,
                "lr": None,
                "program_lr": 1.0,
                "tol": 1e-3,
                "n_runs": 6,
            },
        ),
        (
            ["--no-scale-units", "--lr", "1e-3", "--program-lr", "0.4", "--tol", "0"],
            {"scale_units": False, "lr": 1e-3, "program_lr": 0.4, "tol": 0.0},
        ),
        (
            ["--decoder", "mlp", "--no-library-size", "--no-center-input"],
            {"decoder": "mlp", "center_input": False, "library_size": False, "n_runs": 1},
        ),
        (["--center-input"], {"center_input": True}),
        (["--runs", "1"], {"n_runs": 1}),
    ],
)
def test_cli_model_flags_reach_ortho_ae(flags, expected, tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_ortho_ae(adata, **kwargs):
        seen.update(kwargs)
        raise ValueError("stopped after recording the arguments")

    monkeypatch.setattr(ss.tl, "ortho_ae", fake_ortho_ae)
    argv = ["run", "pbmc3k", "--gene-sets", "pbmc_markers", "--out", str(tmp_path), "--quiet"]
    assert main([*argv, *flags]) == 2
    assert "stopped after recording" in capsys.readouterr().err
    assert {k: seen[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "/no/such.h5ad", "--gene-sets", "hallmark"], "input file not found"),
        (
            ["run", "kang", "--gene-sets", "hallmark"],
            "data set name (pbmc3k, paul15, kang18, mixology)",
        ),
        (["run", "pbmc3k", "--gene-sets", "nope"], "Unknown gene-set resource 'nope'"),
        (["run", "pbmc3k", "--gene-sets", "hallmark", "--groupby", "nope"], "--groupby 'nope'"),
    ],
)
def test_cli_errors_are_one_line(argv, message, tmp_path, capsys):
    if "pbmc3k" in argv and not _have("pbmc3k"):
        pytest.skip("PBMC 3k file not in data dir")
    assert main([*argv, "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("scsaliency: error:") and message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--gene-sets",
        "--groupby",
        "--out",
        "--genes",
        "--seed",
        "--quiet",
        "--decoder",
        "--saliency-method",
        "--center-input",
        "--no-library-size",
        "--no-scale-units",
        "--program-lr",
        "--tol",
    ):
        assert option in text


def test_cli_unreadable_h5ad_is_one_line(tmp_path, capsys):
    bad = tmp_path / "broken.h5ad"
    bad.write_bytes(b"this is not an HDF5 file")
    assert main(["run", str(bad), "--gene-sets", "hallmark", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "broken.h5ad" in err and "not a readable .h5ad" in err


def test_cli_no_overlap_names_the_gene_sets(tmp_path, capsys):
    a = ss.datasets.synthetic(n_cells=100, n_genes=60, n_groups=2, n_decoys=1)
    a.var_names = [f"ENSG{i:011d}" for i in range(a.n_vars)]
    path = tmp_path / "ens.h5ad"
    a.write_h5ad(path)
    gmt = tmp_path / "sets.gmt"
    gmt.write_text("SET_A\tna\tCD3E\tCD4\tCD8A\tNKG7\tGNLY\n")
    rc = main(["run", str(path), "--gene-sets", str(gmt), "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "sets.gmt" in err and "share 0 of the data's 60 genes" in err and "Ensembl" in err
    assert "mask_var" not in err


def _write_cli_input(tmp_path):
    a = ss.datasets.synthetic(
        n_cells=300, n_genes=120, n_groups=2, n_decoys=2, program_size=10, n_samples=4,
        sample_effect=0.3, random_state=2,
    )  # fmt: skip
    sets = a.uns.pop("synthetic")["gene_sets"]
    gmt = tmp_path / "sets.gmt"
    gmt.write_text(
        "".join(f"{k}\tna\t" + "\t".join(g["target"]) + "\n" for k, g in sets.groupby("source"))
    )
    a.write_h5ad(tmp_path / "donors.h5ad")
    return str(tmp_path / "donors.h5ad"), str(gmt)


def test_cli_sample_key(tmp_path):
    from scsaliency.cli import main

    data, gmt = _write_cli_input(tmp_path)
    out = tmp_path / "o"
    base = ["run", data, "--gene-sets", gmt, "--genes", "all", "--groupby", "group"]
    rc = main([*base, "--sample-key", "sample", "--out", str(out), "--n-latent", "4",
               "--max-epochs", "5", "--runs", "1", "--quiet"])  # fmt: skip
    assert rc == 0
    diff = pd.read_csv(out / "impact_diff.csv")
    assert set(diff["test"]) == {"samples, paired t-test on pseudobulks"}
    report = (out / "report.html").read_text()
    assert "Tests across the samples of obs[&#x27;sample&#x27;]" in report


def test_cli_batch_key_aligns_the_umap(tmp_path):
    """A model with batches: the UMAP of the representation is built on it aligned."""
    from scsaliency.cli import main

    data, gmt = _write_cli_input(tmp_path)
    out = tmp_path / "o"
    rc = main(["run", data, "--gene-sets", gmt, "--genes", "all", "--batch-key", "sample",
               "--out", str(out), "--n-latent", "4", "--max-epochs", "5", "--runs", "1",
               "--quiet"])  # fmt: skip
    assert rc == 0
    result = ad.read_h5ad(out / "adata.h5ad")
    assert list(result.uns["ortho_ae"]["params"]["batch_key"]) == ["sample"]
    assert result.obsm["X_ortho_ae_aligned"].shape == result.obsm["X_ortho_ae"].shape


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sample-key", "sample"], "--sample-key needs --groupby"),
        (["--groupby", "group", "--sample-key", "donor"], "--sample-key 'donor' is not a column"),
    ],
)
def test_cli_sample_key_errors(tmp_path, capsys, extra, message):
    from scsaliency.cli import main

    data, gmt = _write_cli_input(tmp_path)
    assert main(["run", data, "--gene-sets", gmt, *extra, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_cli_reference(halves, tmp_path):
    ref, query = halves
    ref.write_h5ad(tmp_path / "ref.h5ad")
    query.write_h5ad(tmp_path / "q.h5ad")
    gmt = tmp_path / "sets.gmt"
    sets = ref.uns["synthetic"]["gene_sets"]
    gmt.write_text(
        "".join(f"{k}\tna\t" + "\t".join(g["target"]) + "\n" for k, g in sets.groupby("source"))
    )
    out = tmp_path / "o"
    argv = ["run", str(tmp_path / "q.h5ad"), "--reference", str(tmp_path / "ref.h5ad")]
    rc = main([*argv, "--gene-sets", str(gmt), "--groupby", "group", "--out", str(out), "--quiet"])
    assert rc == 0
    a = ad.read_h5ad(out / "adata.h5ad")
    assert a.uns["ortho_ae"]["transfer"]["source"].endswith("ref.h5ad")
    assert "stability" not in a.uns["ortho_ae"]  # nothing trained here, so no repeated runs
    direct = query.copy()
    ss.tl.transfer(direct, ref)
    np.testing.assert_allclose(a.obsm["X_ortho_ae"], direct.obsm["X_ortho_ae"], rtol=1e-6)
    assert "ref.h5ad" in (out / "report.html").read_text()


def test_cli_stability_reaches_units_csv_and_the_report(tmp_path):
    from scsaliency.cli import main

    data, gmt = _write_cli_input(tmp_path)
    out = tmp_path / "o"
    rc = main(["run", data, "--gene-sets", gmt, "--genes", "all", "--out", str(out),
               "--n-latent", "4", "--max-epochs", "5", "--runs", "1", "--stability", "2",
               "--quiet"])  # fmt: skip
    assert rc == 0
    units = pd.read_csv(out / "units.csv")
    assert units["stability"].between(0, 1).all()
    assert {"consensus_set", "consensus_sets"} <= set(units.columns)
    report = (out / "report.html").read_text()
    assert "stability and consensus labels over 3 runs" in report
    sets = pd.read_csv(out / "geneset_stability.csv")
    assert list(sets.columns) == [
        "gene_set", "runs", "median_zscore", "median_zscore_trimmed", "consensus_program",
        "consensus_unit", "n_programs", "in_model",
    ]  # fmt: skip
    np.testing.assert_allclose(sets["runs"] * 3, np.round(sets["runs"] * 3))  # of 3 runs
    every = int((sets["runs"] == 1).sum())
    assert f"; {every} gene sets carried by some unit in every run" in report
    strong = int((sets["median_zscore"] >= 5).sum())
    assert f"; {strong} gene sets with a median z-score of 5 or more over the runs" in report
    owned = {s for v in units["consensus_sets"].dropna() for s in v.split("; ")}
    assert f"; {len(owned)} gene sets carried by the model's units as consensus labels" in report
    assert owned <= set(sets.loc[sets["consensus_program"] >= 0, "gene_set"])
    assert "geneset_stability.csv" in report
    single = tmp_path / "single"
    rc = main(["run", data, "--gene-sets", gmt, "--genes", "all", "--out", str(single),
               "--n-latent", "4", "--max-epochs", "5", "--runs", "1", "--quiet"])  # fmt: skip
    assert rc == 0
    assert "stability" not in ad.read_h5ad(single / "adata.h5ad").uns["ortho_ae"]
    assert pd.read_csv(single / "units.csv")["stability"].isna().all()
    assert not (single / "geneset_stability.csv").exists()
    assert "consensus" not in ad.read_h5ad(single / "adata.h5ad").uns["ortho_ae"]
    # the paper's decoder has no gene programs to compare: a single run by default
    mlp = tmp_path / "mlp"
    rc = main(["run", data, "--gene-sets", gmt, "--genes", "all", "--out", str(mlp),
               "--n-latent", "4", "--max-epochs", "5", "--decoder", "mlp", "--quiet"])  # fmt: skip
    assert rc == 0
    assert "stability" not in ad.read_h5ad(mlp / "adata.h5ad").uns["ortho_ae"]
    assert "consensus" not in ad.read_h5ad(mlp / "adata.h5ad").uns["ortho_ae"]
    # a consensus model's units already carry their share of runs: --stability says so
    rc = main(["run", data, "--gene-sets", gmt, "--genes", "all", "--out", str(mlp),
               "--n-latent", "4", "--max-epochs", "5", "--runs", "2", "--stability", "2",
               "--quiet"])  # fmt: skip
    assert rc == 2


@pytest.mark.skipif(not _have("kang18"), reason="Kang 2018 file not in data dir")
def test_cli_reads_every_manifest_data_set_by_name():
    from scsaliency.cli._pipeline import DATASETS, _read_input

    assert set(DATASETS) == {"pbmc3k", "paul15", "kang18", "mixology"}
    adata = _read_input("kang18")
    assert {"donor", "cell_type"} <= set(adata.obs.columns)
