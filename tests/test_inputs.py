"""Issue 10: bad input gets one clear sentence, and group tests that cannot be fooled."""

import warnings

import numpy as np
import pandas as pd
import pytest

import scsaliency as ss
from scsaliency.cli import main


def test_duplicate_gene_names_are_named(counts):
    counts.var_names = ["gene0", "gene0", *counts.var_names[2:]]
    with pytest.raises(ValueError, match=r"repeated gene names \('gene0'\).*var_names_make_unique"):
        ss.tl.ortho_ae(counts, progress=False)


def test_duplicate_gene_names_after_training_are_named(trained):
    a = trained.copy()
    a.var_names = [a.var_names[1], *a.var_names[1:]]
    with pytest.raises(ValueError, match="var_names_make_unique"):
        ss.tl.saliency(a, progress=False)


def test_no_cells_is_named_as_such(counts):
    with pytest.raises(ValueError, match="no cells"):
        ss.tl.ortho_ae(counts[:0].copy(), progress=False)


def test_gene_sets_of_another_species_warn():
    mouse = pd.Index(["Cd3e", "Cd4", "Cd8a", "Ms4a1", "Nkg7", "Gnly", "Lyz2", "Actb"])
    human_sets = {"T": ["CD3E", "CD4", "CD8A"], "NK": ["NKG7", "GNLY"]}
    with pytest.warns(UserWarning, match="look human.*look mouse.*hallmark_mouse"):
        ss.genesets.match(human_sets, mouse, min_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ss.genesets.match(
            {k: [g.capitalize() for g in v] for k, v in human_sets.items()}, mouse, min_size=2
        )


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


@pytest.fixture(scope="module")
def grouped(trained):
    """The shared trained model with one group of a single cell and a random two-way split."""
    a = trained.copy()
    rng = np.random.default_rng(0)
    labels = np.where(rng.random(a.n_obs) < 0.5, "A", "B").astype(object)
    labels[0] = "single"
    a.obs["split"] = pd.Categorical(labels)
    ss.tl.saliency(a, progress=False)
    ss.tl.geneset_impact(
        a, a.uns["synthetic"]["gene_sets"], groupby="split", n_null=0, progress=False
    )
    return a


def test_a_group_of_one_cell_gets_no_test(grouped):
    with pytest.warns(UserWarning, match="single has 1 .*min_cells=3"):
        d = ss.get.impact_diff(grouped, "single")
    assert d["pval"].isna().all() and d["padj"].isna().all()
    assert d["diff"].notna().all()
    with pytest.raises(ValueError, match="min_cells must be at least 2"):
        ss.get.impact_diff(grouped, "A", min_cells=1)


def test_cell_level_test_is_calibrated_on_a_random_split(grouped):
    d = ss.get.impact_diff(grouped, "A", "B")
    assert d["padj"].notna().all()
    assert (d["padj"] < 0.05).mean() <= 0.05


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_latent": 0}, "n_latent must be at least 1"),
        ({"max_epochs": 0}, "max_epochs must be at least 1"),
        ({"ortho_weight": -1.0}, "ortho_weight must be at least 0"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"validation_fraction": 1.0}, r"validation_fraction must be in \(0, 1\)"),
    ],
)
def test_ortho_ae_bad_parameters(counts, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ss.tl.ortho_ae(counts, progress=False, **kwargs)


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


def test_plot_and_data_bad_parameters(grouped):
    with pytest.raises(ValueError, match="top must be at least 1"):
        ss.pl.impact_heatmap(grouped, top=0, show=False)
    with pytest.raises(ValueError, match="n_cells, n_genes, n_groups and program_size"):
        ss.datasets.synthetic(n_cells=0)
    fresh = ss.datasets.synthetic(n_cells=50, n_genes=200)
    with pytest.raises(KeyError, match="No training history.*Run scsaliency.tl.ortho_ae"):
        ss.pl.training_history(fresh, show=False)
