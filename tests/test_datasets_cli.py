import os

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import scsaliency as ss
from scsaliency.cli import main
from scsaliency.datasets import _registry

from .conftest import _have, requires_pbmc

NAMES = ["pbmc3k", "paul15", "hallmark_human", "hallmark_mouse", "dmap"]


def test_manifest_fields():
    m = ss.datasets.manifest()
    for section in ("datasets", "gene_sets"):
        for name, e in m[section].items():
            for field in (
                "file",
                "format",
                "species",
                "description",
                "sha256",
                "source",
                "license",
                "citation",
                "download",
            ):
                assert field in e, (name, field)
            assert len(e["sha256"]) == 64


@pytest.mark.parametrize("name", NAMES)
def test_manifest_matches_local_files(name):
    if not _have(name):
        pytest.skip(f"{name} not in the data directory")
    path = ss.datasets.fetch(name)
    assert _registry.sha256(path) == _registry.entry(name)["sha256"]


def test_data_dir_that_does_not_exist_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(_registry.DATA_DIR_VAR, str(tmp_path / "nowhere"))
    monkeypatch.setenv(_registry.CACHE_DIR_VAR, str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="SCSALIENCY_DATA_DIR.*nowhere.*not a directory"):
        ss.datasets.fetch("hallmark_human")
    with pytest.raises(KeyError, match="not in data_manifest.yaml"):
        ss.datasets.fetch("nope")


def test_data_dir_without_the_file_names_it_and_does_not_download(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.setenv(_registry.DATA_DIR_VAR, str(tmp_path / "data"))
    monkeypatch.setenv(_registry.CACHE_DIR_VAR, str(tmp_path / "cache"))
    import pooch

    def no_download(*args, **kwargs):
        raise AssertionError("downloaded although SCSALIENCY_DATA_DIR is set")

    monkeypatch.setattr(pooch, "retrieve", no_download)
    with pytest.raises(FileNotFoundError, match="SCSALIENCY_DATA_DIR=.*no file 'hallmark_human"):
        ss.datasets.fetch("hallmark_human")
    with pytest.raises(FileNotFoundError, match="pbmc3k_counts.h5ad"):
        ss.datasets.pbmc3k()


def test_relative_data_dir_is_resolved_once_and_inherited(tmp_path, monkeypatch):
    import subprocess
    import sys

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "hallmark_human_2025.gmt").write_text("S\tna\tA\tB\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(_registry.DATA_DIR_VAR, "data")
    assert _registry.data_dir() == tmp_path / "data"
    assert os.environ[_registry.DATA_DIR_VAR] == str(tmp_path / "data")
    # a child started in another directory (a notebook kernel, a torchrun worker) sees the same
    code = "import scsaliency as ss; print(ss.datasets.fetch('hallmark_human'))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path / "elsewhere", capture_output=True, text=True
    )
    assert out.stdout.strip() == str(tmp_path / "data" / "hallmark_human_2025.gmt"), out.stderr
    # and a fresh process given the relative value resolves it against its own start directory
    env = {**os.environ, _registry.DATA_DIR_VAR: "data"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == str(tmp_path / "data" / "hallmark_human_2025.gmt"), out.stderr


def test_cache_is_used_when_no_data_dir_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv(_registry.DATA_DIR_VAR, raising=False)
    monkeypatch.setenv(_registry.CACHE_DIR_VAR, str(tmp_path))
    (tmp_path / "hallmark_human_2025.gmt").write_text("S\tna\tA\tB\n")
    assert ss.datasets.fetch("hallmark_human") == tmp_path / "hallmark_human_2025.gmt"


def test_missing_file_without_data_dir_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(_registry.DATA_DIR_VAR, raising=False)
    monkeypatch.setenv(_registry.CACHE_DIR_VAR, str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="dmap_novershtern.*SCSALIENCY_DATA_DIR"):
        ss.datasets.fetch("dmap")


@requires_pbmc
def test_loaders():
    a = ss.datasets.pbmc3k()
    assert a.shape == (2700, 13714) and "cell_type" in a.obs
    assert a.uns["dataset"]["is_manifest_file"]
    assert "CC BY 4.0" in a.uns["dataset"]["license"]
    p = ss.datasets.paul15()
    assert p.shape == (2660, 240) and p.obs["cell_type"].nunique() == 7
    with pytest.raises(KeyError, match="Unknown data set"):
        ss.datasets.load("nope")


def test_dmap_signature_rule():
    if not _have("dmap"):
        pytest.skip("dmap not in the data directory")
    table = ss.datasets.dmap_table()
    sig = ss.datasets.dmap_signatures(n_genes=20, min_log2_diff=1.0)
    pop = "Megakaryocyte"
    genes = sig[f"DMAP_{pop}"]
    others = table.drop(columns=pop).mean(axis=1)
    diff = (table[pop] - others).sort_values(ascending=False)
    assert genes == list(diff.index[:20])
    assert (diff.loc[genes] >= 1.0).all()
    assert {"PF4", "PPBP"} & set(genes)


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
    assert a.obsm["X_ortho_ae"].shape == (2638, 8)
    # the UMAP's neighbour graph is built on the square root of the units
    np.testing.assert_allclose(a.obsm["X_ortho_ae_sqrt"], np.sqrt(a.obsm["X_ortho_ae"]))
    assert a.uns["ortho_ae_neighbors"]["params"]["use_rep"] == "X_ortho_ae_sqrt"
    assert {"ortho_ae", "saliency", "geneset_impact"} <= set(a.uns)
    assert a.uns["saliency"]["params"]["method"] == "guided_x_input"
    assert a.uns["ortho_ae"]["params"]["decoder"] == "additive"
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
            },
        ),
        (
            ["--no-scale-units", "--lr", "1e-3", "--program-lr", "0.4", "--tol", "0"],
            {"scale_units": False, "lr": 1e-3, "program_lr": 0.4, "tol": 0.0},
        ),
        (
            ["--decoder", "mlp", "--no-library-size", "--no-center-input"],
            {"decoder": "mlp", "center_input": False, "library_size": False},
        ),
        (["--center-input"], {"center_input": True}),
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
