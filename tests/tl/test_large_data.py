"""`tl.ortho_ae` on backed data and over processes (DDP)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score

import scsaliency as ss
from scsaliency.nn import tensors as _data

from ..settings import DDP_DATA, DDP_TRAIN

ROOT = Path(__file__).resolve().parents[2]


def _nmi(z, labels):
    k = len(set(labels))
    return normalized_mutual_info_score(labels, KMeans(k, n_init=10, random_state=0).fit_predict(z))


def test_backed_streaming(tmp_path, monkeypatch):
    monkeypatch.setattr(_data, "BACKED_BLOCK", 128)  # several blocks on small data
    a = ss.datasets.synthetic(n_cells=700, n_genes=150, n_groups=3, random_state=2)
    a.write_h5ad(tmp_path / "a.h5ad")
    mem = a.copy()
    kw = dict(n_latent=6, n_hidden=32, max_epochs=40, progress=False)
    ss.tl.ortho_ae(mem, **kw)
    backed = ad.read_h5ad(tmp_path / "a.h5ad", backed="r")
    ss.tl.ortho_ae(backed, **kw)
    assert backed.isbacked and backed.obsm["X_ortho_ae"].shape == (700, 6)
    labels = a.obs["group"].to_numpy()
    # Block shuffling changes the minibatches, not what the model learns.
    assert _nmi(backed.obsm["X_ortho_ae"], labels) > _nmi(mem.obsm["X_ortho_ae"], labels) - 0.15
    best_mem = mem.uns["ortho_ae"]["history"]["val_loss"].min()
    best_backed = backed.uns["ortho_ae"]["history"]["val_loss"].min()
    assert abs(best_backed - best_mem) / best_mem < 0.05
    # Saliency and impact stream over backed rows as well, and agree with in-memory rows.
    backed.uns["ortho_ae"] = mem.uns["ortho_ae"]
    ss.tl.saliency(backed, groupby="group", progress=False)
    ss.tl.saliency(mem, groupby="group", progress=False)
    np.testing.assert_allclose(backed.varm["saliency"], mem.varm["saliency"], rtol=1e-5)
    sets = a.uns["synthetic"]["gene_sets"]
    ss.tl.geneset_impact(backed, sets, groupby="group", n_null=0, progress=False)
    ss.tl.geneset_impact(mem, sets, groupby="group", n_null=0, progress=False)
    np.testing.assert_allclose(
        backed.uns["geneset_impact"]["group_mean"],
        mem.uns["geneset_impact"]["group_mean"],
        rtol=1e-5,
    )
    # Issue 27: copy=True on backed data failed in AnnData.copy after the whole pass.
    for tool, args in (
        (ss.tl.saliency, ()),
        (ss.tl.geneset_impact, (sets,)),
        (ss.tl.ortho_ae, ()),
    ):
        with pytest.raises(ValueError, match="copy=True on backed data"):
            tool(backed, *args, copy=True, progress=False)


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun test on Linux only")
def test_ddp_two_processes_match_one(tmp_path):
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(ROOT / "tests" / "ddp_worker.py"),
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    z0, z1 = np.load(tmp_path / "z0.npy"), np.load(tmp_path / "z1.npy")
    np.testing.assert_array_equal(z0, z1)  # both processes hold the same model
    info = [json.loads((tmp_path / f"info{r}.json").read_text()) for r in (0, 1)]
    assert info[0]["distributed"] and info[0] == info[1]

    single = ss.datasets.synthetic(**DDP_DATA)
    ss.tl.ortho_ae(single, progress=False, **DDP_TRAIN)
    assert not single.uns["ortho_ae"]["params"]["distributed"]
    labels = single.obs["group"].to_numpy()
    nmi_single, nmi_ddp = _nmi(single.obsm["X_ortho_ae"], labels), _nmi(z0, labels)
    assert nmi_single > 0.5
    assert nmi_ddp > nmi_single - 0.1
    best_single = single.uns["ortho_ae"]["history"]["val_loss"].min()
    assert abs(info[0]["best_val"] - best_single) / best_single < 0.05


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun test on Linux only")
def test_consensus_runs_shared_out_over_processes_give_the_one_process_answer(tmp_path):
    """Under a process group each process trains its share of the runs; the model is the one
    that a single process (with the same thread count) builds, bit for bit."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    worker = str(ROOT / "tests" / "consensus_worker.py")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    ddp, one = tmp_path / "ddp", tmp_path / "one"
    ddp.mkdir(), one.mkdir()
    for cmd in (
        [*torchrun, "--nproc_per_node=2", worker, str(ddp)],
        [sys.executable, worker, str(one)],
    ):
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    z = np.load(one / "z0.npy")
    for rank in (0, 1):
        np.testing.assert_array_equal(np.load(ddp / f"z{rank}.npy"), z)
        np.testing.assert_array_equal(np.load(ddp / f"p{rank}.npy"), np.load(one / "p0.npy"))
