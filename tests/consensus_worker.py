"""The consensus model in a process of its own, with or without a process group (torchrun).

Run by tests/tl/test_large_data.py: ``python tests/consensus_worker.py OUT`` trains it in one
process; under ``torchrun --nproc_per_node=2`` the two processes share out the runs.
"""

import sys
from pathlib import Path

import numpy as np
import torch.distributed as dist

import scsaliency as ss
from tests.settings import CONSENSUS_TRAIN, DDP_DATA

if __name__ == "__main__":
    out = Path(sys.argv[1])
    grouped = "RANK" in __import__("os").environ
    if grouped:
        dist.init_process_group("gloo")
    rank = dist.get_rank() if grouped else 0
    adata = ss.datasets.synthetic(**DDP_DATA)
    ss.tl.ortho_ae(adata, progress=False, **CONSENSUS_TRAIN)
    np.save(out / f"z{rank}.npy", adata.obsm["X_ortho_ae"])
    np.save(out / f"p{rank}.npy", adata.uns["ortho_ae"]["weights"]["decoder.P"])
    if grouped:
        dist.destroy_process_group()
