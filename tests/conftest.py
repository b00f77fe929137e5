import os
from pathlib import Path

import matplotlib
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
