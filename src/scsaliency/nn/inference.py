"""Inference with a trained network: the representation of every cell (torch, no AnnData)."""

from __future__ import annotations

import numpy as np
import torch

from .network import OrthoAE
from .tensors import CellMatrix


@torch.no_grad()
def embed(module: OrthoAE, data: CellMatrix, *, device: torch.device, batch_size: int = 1024):
    """Representation of every cell, float32 numpy (cells x n_latent)."""
    module.eval()
    out = np.empty((data.n_obs, module.n_latent), dtype=np.float32)
    for idx, x in data.batches(None, batch_size, device=device):
        out[idx] = module.encode(x).cpu().numpy()
    return out
