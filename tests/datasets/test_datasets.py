"""Data sets: the manifest, the data directory, loaders, synthetic data."""

import os

import numpy as np
import pandas as pd
import pytest

import scsaliency as ss
from scsaliency.datasets import _registry

from ..conftest import _have, independent_programs, requires_pbmc

NAMES = ["pbmc3k", "paul15", "kang18", "mixology", "hallmark_human", "hallmark_mouse", "dmap"]


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


def _offline(monkeypatch, tmp_path):
    """No data directory, an empty cache, and every download failing as it does offline."""
    import urllib.error

    import pooch
    import scanpy as sc

    def fail(*args, **kwargs):
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.delenv(_registry.DATA_DIR_VAR, raising=False)
    monkeypatch.setenv(_registry.CACHE_DIR_VAR, str(tmp_path / "cache"))
    monkeypatch.setattr(pooch, "retrieve", fail)
    monkeypatch.setattr(sc.datasets, "pbmc3k", fail)
    monkeypatch.setattr(sc.datasets, "paul15", fail)


@pytest.mark.parametrize("load", [ss.datasets.pbmc3k, ss.datasets.paul15])
def test_offline_data_set_is_one_sentence_of_ours(load, tmp_path, monkeypatch):
    # Issue 27: a bare URLError from scanpy's download before.
    _offline(monkeypatch, tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        load()
    text = str(err.value)
    assert "SCSALIENCY_DATA_DIR" in text and "_counts.h5ad" in text and "failed" in text
    assert "name resolution" in text and err.value.__suppress_context__  # no chained traceback


def test_offline_hallmark_names_msigdb_and_chains_nothing(tmp_path, monkeypatch):
    _offline(monkeypatch, tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        ss.genesets.as_dict("hallmark", ["CD3E", "CD3D"])
    text = str(err.value)
    assert "hallmark_human_2025.gmt" in text and "SCSALIENCY_DATA_DIR" in text
    assert "gsea-msigdb.org" in text and "scLucid" not in text.split("failed")[1]
    assert err.value.__cause__ is None and err.value.__suppress_context__


@requires_pbmc
def test_loaders():
    a = ss.datasets.pbmc3k()
    assert a.shape == (2700, 13714) and "cell_type" in a.obs
    assert a.uns["dataset"]["is_manifest_file"]
    assert "CC BY 4.0" in a.uns["dataset"]["license"]
    # Issue 26: the full Paul15 data, its 19 clusters and a coarse cell type from their names
    p = ss.datasets.paul15()
    assert p.shape == (2730, 3451) and p.obs["paul15_clusters"].nunique() == 19
    types = p.obs.groupby("paul15_clusters", observed=True)["cell_type"].first().astype(str)
    assert types["7MEP"] == "MEP" and types["3Ery"] == "erythroid" and types["10GMP"] == "GMP"
    assert types["19Lymph"] == "lymphoid" and p.obs["cell_type"].notna().all()
    assert p.obs["cell_type"].nunique() == 10
    k = ss.datasets.kang18()
    assert k.shape == (1556, 1267) and set(k.obs["condition"]) == {"ctrl", "stim"}
    m = ss.datasets.mixology()
    assert m.shape == (450, 15073) and set(m.obs["technology"]) == {"CEL-seq2", "Drop-seq"}
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


def test_independent_programs_are_independent_of_groups_and_each_other():
    a = independent_programs(n_cells=4000, active_fraction=0.3)
    acts = a.obs[[f"program{p}_activity" for p in range(4)]].to_numpy()
    active = acts > 0
    # each program active in about 30% of the cells, with continuous activity in [0.5, 1]
    assert np.allclose(active.mean(0), 0.3, atol=0.03)
    assert acts[active].min() >= 0.5 and acts[active].max() <= 1.0
    assert len(np.unique(np.round(acts[active], 6))) > 100
    # programs overlap in cells as independent draws would, and ignore the groups
    both = (active[:, 0] & active[:, 1]).mean()
    assert abs(both - active[:, 0].mean() * active[:, 1].mean()) < 0.02
    by_group = pd.Series(active[:, 0]).groupby(a.obs["group"].to_numpy()).mean()
    assert by_group.max() - by_group.min() < 0.1
    progs = a.uns["synthetic"]["programs"]
    assert list(progs["group"]) == ["none"] * 4
    sets = a.uns["synthetic"]["gene_sets"]
    assert set(sets["source"]) == {f"program{p}" for p in range(4)} | {
        f"decoy{d}" for d in range(4)
    }


def test_independent_program_genes_follow_activity():
    a = independent_programs(n_cells=3000)
    sets = a.uns["synthetic"]["gene_sets"]
    genes = sets.loc[sets["source"] == "program0", "target"]
    x = np.asarray(a[:, genes].X.sum(1)).ravel() / np.asarray(a.X.sum(1)).ravel()
    on = a.obs["program0_activity"].to_numpy() > 0
    assert x[on].mean() > 2 * x[~on].mean()


def test_synthetic_rejects_bad_mode():
    with pytest.raises(ValueError, match="activity"):
        ss.datasets.synthetic(activity="random")
    with pytest.raises(ValueError, match="active_fraction"):
        ss.datasets.synthetic(activity="independent", active_fraction=0)
