"""CPU against CUDA: the same seed gives close numbers on both (skipped without a GPU)."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

import scsaliency as ss
from scsaliency.nn import step as _step

from ..conftest import assert_only_new_batch_rows_moved

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _program_sets(adata):
    return adata.uns["synthetic"]["gene_sets"]


@pytest.fixture(scope="module")
def on_both():
    """One synthetic data set trained, explained and scored on the CPU and on CUDA."""
    out = {}
    for device in ("cpu", "cuda"):
        adata = ss.datasets.synthetic(
            n_cells=600, n_genes=300, n_groups=3, activity="independent", random_state=0
        )
        adata.X = sp.csr_matrix(adata.X)
        ss.tl.ortho_ae(
            adata,
            n_latent=8,
            n_hidden=32,
            max_epochs=15,
            patience=100,
            device=device,
            progress=False,
        )
        ss.tl.saliency(adata, groupby="group", device=device, progress=False)
        ss.tl.geneset_impact(
            adata,
            _program_sets(adata),
            groupby="group",
            n_null=200,
            device=device,
            progress=False,
        )
        out[device] = adata
    return out


def _rel(a, b):
    """Relative difference; entries undefined on one device (NaN) must be so on the other."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    undefined = np.isnan(b)
    np.testing.assert_array_equal(np.isnan(a), undefined)
    a, b = a[~undefined], b[~undefined]
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@cuda
def test_same_seed_close_representation(on_both):
    cpu, gpu = on_both["cpu"], on_both["cuda"]
    assert gpu.uns["ortho_ae"]["params"]["device"].startswith("cuda")
    h_cpu, h_gpu = cpu.uns["ortho_ae"]["history"], gpu.uns["ortho_ae"]["history"]
    assert len(h_cpu) == len(h_gpu) == 15
    np.testing.assert_allclose(h_gpu["val_loss"], h_cpu["val_loss"], rtol=1e-3)
    assert _rel(gpu.obsm["X_ortho_ae"], cpu.obsm["X_ortho_ae"]) < 1e-2


@cuda
def test_same_model_close_saliency_and_impact_on_both_devices(on_both):
    """The CPU's model explained on CUDA: maps and tables as on the CPU, up to rounding."""
    cpu = on_both["cpu"]
    gpu = cpu.copy()
    ss.tl.saliency(gpu, groupby="group", device="cuda", progress=False)
    ss.tl.geneset_impact(
        gpu, _program_sets(gpu), groupby="group", n_null=200, device="cuda", progress=False
    )
    assert _rel(gpu.varm["saliency"], cpu.varm["saliency"]) < 1e-4
    for key in ("impact", "zscore"):
        a, b = gpu.uns["geneset_impact"][key], cpu.uns["geneset_impact"][key]
        assert _rel(a.to_numpy(), b.to_numpy()) < 1e-4
    means = [a.uns["geneset_impact"]["group_mean"] for a in (gpu, cpu)]
    assert _rel(*means) < 1e-4
    pd.testing.assert_series_equal(
        ss.get.units(gpu)["label"], ss.get.units(cpu)["label"], check_names=False
    )


@cuda
def test_pipeline_on_cuda_gives_the_same_unit_labels(on_both):
    """Trained, explained and scored on CUDA throughout: the same units carry the same sets."""
    a, b = ss.get.units(on_both["cpu"]), ss.get.units(on_both["cuda"])
    assert (a["gene_set"] == b["gene_set"]).mean() >= 0.75


@cuda
def test_same_seed_same_numbers_on_cuda():
    runs = []
    for _ in range(2):
        adata = ss.datasets.synthetic(n_cells=400, n_genes=200, n_groups=3, random_state=2)
        ss.tl.ortho_ae(adata, n_latent=8, n_hidden=32, max_epochs=10, device="cuda", progress=False)
        ss.tl.saliency(adata, device="cuda", progress=False)
        runs.append(adata)
    np.testing.assert_array_equal(runs[0].obsm["X_ortho_ae"], runs[1].obsm["X_ortho_ae"])
    np.testing.assert_array_equal(runs[0].varm["saliency"], runs[1].varm["saliency"])


@cuda
@pytest.mark.parametrize("decoder", ["additive", "mlp"])
def test_graph_replay_matches_the_eager_step(decoder, monkeypatch):
    """The step replayed as a CUDA graph trains as the eager step does (rounding apart)."""
    reps = {}
    for graphs in (True, False):
        monkeypatch.setattr(_step, "CUDA_GRAPHS", graphs)
        adata = ss.datasets.synthetic(n_cells=500, n_genes=200, n_groups=3, random_state=3)
        ss.tl.ortho_ae(
            adata,
            decoder=decoder,
            n_latent=8,
            n_hidden=32,
            max_epochs=8,
            patience=100,
            device="cuda",
            progress=False,
        )
        reps[graphs] = adata
    h1, h0 = (reps[g].uns["ortho_ae"]["history"] for g in (True, False))
    np.testing.assert_allclose(h1["val_loss"], h0["val_loss"], rtol=1e-4)
    assert _rel(reps[True].obsm["X_ortho_ae"], reps[False].obsm["X_ortho_ae"]) < 1e-3


@cuda
@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_device_copy_gives_the_host_rows(layout, monkeypatch):
    from scsaliency.nn import tensors as _data

    rng = np.random.default_rng(0)
    x = sp.random(500, 120, density=0.1, format="csr", random_state=0, dtype=np.float32)
    x.data = np.ceil(x.data * 5)
    genes = np.r_[rng.permutation(120)[:100], -1]  # a model gene the data lacks
    if layout == "csr":
        monkeypatch.setattr(_data, "DEVICE_DENSE_SHARE", 0.0)
    data = _data.CellMatrix(x, genes)
    cells = rng.permutation(500)[:300]
    got = np.concatenate([b.cpu().numpy() for _, b in data.batches(cells, 64, device="cuda")])
    assert data.device_layout == layout
    np.testing.assert_array_equal(got, data.rows(cells))


@pytest.fixture(scope="module")
def batches():
    """Three samples with per-gene capture factors and depths; programs shared."""
    return ss.datasets.synthetic(
        n_cells=600,
        n_genes=200,
        n_groups=3,
        n_samples=3,
        sample_effect=1.0,
        library_effect=0.5,
        activity="independent",
        random_state=5,
    )


@cuda
def test_batch_key_on_cuda_as_on_the_cpu(batches):
    """The batch-aware model trains on CUDA as on the CPU, and is explained there."""
    out = {}
    for device in ("cpu", "cuda"):
        a = batches.copy()
        ss.tl.ortho_ae(
            a,
            batch_key="sample",
            n_latent=8,
            n_hidden=32,
            max_epochs=15,
            patience=100,
            device=device,
            progress=False,
        )
        ss.tl.saliency(a, groupby="sample", device=device, progress=False)
        out[device] = a
    cpu, gpu = out["cpu"], out["cuda"]
    h_cpu, h_gpu = cpu.uns["ortho_ae"]["history"], gpu.uns["ortho_ae"]["history"]
    np.testing.assert_allclose(h_gpu["val_loss"], h_cpu["val_loss"], rtol=1e-3)
    assert _rel(gpu.obsm["X_ortho_ae"], cpu.obsm["X_ortho_ae"]) < 1e-2
    assert _rel(gpu.varm["saliency"], cpu.varm["saliency"]) < 5e-2


@cuda
def test_transfer_into_a_new_batch_on_cuda_fits_only_its_parameters(batches):
    ref = batches[batches.obs["sample"] != "s2"].copy()
    ref.obs["sample"] = ref.obs["sample"].cat.remove_unused_categories()
    ss.tl.ortho_ae(ref, batch_key="sample", n_latent=8, n_hidden=32, max_epochs=15, progress=False)
    query = batches.copy()
    ss.tl.transfer(query, ref, fit_epochs=10, device="cuda")
    e = query.uns["ortho_ae"]
    assert list(e["transfer"]["fitted_batches"]["sample"]) == ["s2"]
    old, new = ref.uns["ortho_ae"]["weights"], e["weights"]
    assert_only_new_batch_rows_moved(old, new, n_known=2)


@cuda
def test_stability_on_cuda(counts):
    """tl.stability trains its runs on CUDA and stores what it stores on the CPU."""
    out = {}
    for device in ("cpu", "cuda"):
        a = counts.copy()
        ss.tl.ortho_ae(a, n_latent=8, n_hidden=32, max_epochs=15, device=device, progress=False)
        ss.tl.saliency(a, device=device, progress=False)
        ss.tl.geneset_impact(a, _program_sets(a), n_null=200, device=device, progress=False)
        ss.tl.stability(a, _program_sets(a), n_runs=2, device=device, progress=False)
        out[device] = ss.get.units(a)
    cpu, gpu = out["cpu"], out["cuda"]
    assert list(gpu.columns) == list(cpu.columns)
    assert gpu["stability"].between(0, 1).all()
    assert abs(gpu["stability"].mean() - cpu["stability"].mean()) < 0.25
