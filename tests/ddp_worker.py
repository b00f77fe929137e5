"""Run by tests/tl/test_large_data.py under torchrun: data-parallel training, 2 CPU processes."""

import json
import sys
from pathlib import Path

import numpy as np
import torch.distributed as dist

import scsaliency as ss
from tests.settings import DDP_DATA, DDP_TRAIN

if __name__ == "__main__":
    out = Path(sys.argv[1])
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    adata = ss.datasets.synthetic(**DDP_DATA)
    ss.tl.ortho_ae(adata, progress=False, **DDP_TRAIN)  # picks up the process group
    np.save(out / f"z{rank}.npy", adata.obsm["X_ortho_ae"])
    entry = adata.uns["ortho_ae"]
    (out / f"info{rank}.json").write_text(
        json.dumps(
            {
                "distributed": entry["params"]["distributed"],
                "best_val": float(entry["history"]["val_loss"].min()),
                "n_epochs": int(entry["params"]["n_epochs"]),
            }
        )
    )
    dist.destroy_process_group()
