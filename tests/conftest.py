import os
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import scsaliency as ss  # noqa: E402

# Tests read the real data from the shared folder unless the caller points elsewhere.
_DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if not os.environ.get(ss.datasets.DATA_DIR_VAR) and _DEFAULT_DATA.is_dir():
    os.environ[ss.datasets.DATA_DIR_VAR] = str(_DEFAULT_DATA)


def _have(name: str) -> bool:
    try:
        return ss.datasets._registry.local_path(name) is not None
    except Exception:
        return False


requires_pbmc = pytest.mark.skipif(not _have("pbmc3k"), reason="PBMC 3k file not in data dir")


@pytest.fixture
def counts():
    """Small synthetic counts with planted programs (fresh per test: tests may write into it)."""
    return ss.datasets.synthetic(n_cells=300, n_genes=200, n_groups=3, random_state=0)


@pytest.fixture(scope="session")
def trained():
    """A small trained model on synthetic counts, shared read-only between tests."""
    adata = ss.datasets.synthetic(n_cells=400, n_genes=200, n_groups=3, random_state=1)
    ss.tl.ortho_ae(adata, n_latent=8, n_hidden=32, max_epochs=40, progress=False)
    return adata


@pytest.fixture(scope="session")
def pbmc_results():
    """PBMC 3k (labelled cells, Hallmark + marker genes) trained, with saliency and impact.

    Shared read-only by the plot tests; a short training keeps the suite fast.
    """
    import numpy as np

    if not _have("pbmc3k"):
        pytest.skip("PBMC 3k file not in data dir")
    adata = ss.datasets.pbmc3k()
    adata = adata[adata.obs["cell_type"].notna()].copy()
    adata.obs["cell_type"] = adata.obs["cell_type"].astype("category")
    sets = {**ss.genesets.as_dict("hallmark", adata.var_names), **ss.datasets.pbmc_markers()}
    genes = {g.upper() for s in sets.values() for g in s}
    detected = np.asarray((adata.X > 0).sum(0)).ravel() >= 3
    adata.var["used"] = detected & adata.var_names.str.upper().isin(genes)
    ss.tl.ortho_ae(adata, mask_var="used", max_epochs=25, progress=False)
    ss.tl.saliency(adata, groupby="cell_type", progress=False)
    ss.tl.geneset_impact(adata, sets, groupby="cell_type", n_null=200, progress=False)
    return adata


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


def independent_programs(**kw):
    """Synthetic counts with programs active independently of each other and of the groups."""
    args = dict(
        n_cells=800,
        n_genes=300,
        n_programs=4,
        n_decoys=4,
        fold_change=4.0,
        activity="independent",
        random_state=3,
    )
    return ss.datasets.synthetic(**{**args, **kw})


@pytest.fixture(scope="module")
def planted():
    """Additive default model on data with 4 independent planted programs."""
    a = independent_programs(n_cells=1500, n_genes=300, fold_change=5.0)
    ss.tl.ortho_ae(a, n_latent=8, n_hidden=32, progress=False)
    ss.tl.saliency(a, progress=False)
    ss.tl.geneset_impact(a, a.uns["synthetic"]["gene_sets"], n_null=200, progress=False)
    return a


@pytest.fixture(scope="module")
def halves():
    """A model trained on one half of synthetic cells; the other half as the query."""
    a = ss.datasets.synthetic(n_cells=600, n_genes=200, n_groups=3, random_state=7)
    ref, query = a[:300].copy(), a[300:].copy()
    ss.tl.ortho_ae(ref, n_latent=8, n_hidden=32, max_epochs=20, progress=False)
    return ref, query


@pytest.fixture(scope="module")
def donors():
    """Eight donors with their own gene-level effects; programs active independently of them."""
    a = ss.datasets.synthetic(
        n_cells=800,
        n_genes=200,
        n_groups=2,
        n_programs=4,
        n_decoys=4,
        program_size=15,
        activity="independent",
        n_samples=8,
        sample_effect=0.3,
        random_state=3,
    )
    ss.tl.ortho_ae(a, n_latent=8, n_hidden=32, max_epochs=30, progress=False)
    ss.tl.saliency(a, progress=False)
    return a


def scaled_pair():
    """An additive network with programs of different lengths, and a copy with scaled units."""
    import copy

    import torch

    from scsaliency.nn.network import OrthoAE

    gen = torch.Generator().manual_seed(1)
    m = OrthoAE(30, 8, 5, decoder="additive", generator=gen)
    with torch.no_grad():
        m.decoder.P.mul_(torch.rand(m.decoder.P.shape, generator=gen) * 10)
        m.decoder.P.mul_(torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0]).unsqueeze(1))
    m.median_total.fill_(10.0)
    scaled = copy.deepcopy(m)
    scaled.scale_units()
    x = torch.poisson(torch.rand(12, 30, generator=gen) * 2, generator=gen)
    return m, scaled, x


def assert_only_new_batch_rows_moved(old: dict, new: dict, n_known: int) -> None:
    """A transferred model's weights: every one as in the reference, bit for bit, except the
    batch parameters' rows after the reference's ``n_known`` batches (the fitted new ones)."""
    for name, value in old.items():
        if name in ("batch_hidden", "batch_log", "batch_group"):
            np.testing.assert_array_equal(
                np.asarray(new[name])[:n_known], np.asarray(value)[:n_known]
            )
        else:
            np.testing.assert_array_equal(np.asarray(new[name]), np.asarray(value), err_msg=name)
