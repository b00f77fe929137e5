"""Write a trained model into ``adata.uns`` and rebuild it from there (h5ad-safe types only)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from anndata import AnnData

from .module import OrthoAE


def module_to_uns(module: OrthoAE) -> dict[str, np.ndarray]:
    """State dict as numpy arrays, keyed by parameter name."""
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def module_from_uns(entry: Mapping) -> OrthoAE:
    """Rebuild the network stored by :func:`scsaliency.tl.ortho_ae` (evaluation mode, CPU)."""
    params = entry["params"]
    weights = entry["weights"]
    module = OrthoAE(
        n_genes=len(entry["var_names"]),
        n_hidden=int(params["n_hidden"]),
        n_latent=int(params["n_latent"]),
        library_size=bool(params["library_size"]),
        # Models stored before the decoder choice existed have the paper's decoder.
        decoder=str(params.get("decoder", "mlp")),
    )
    state = {k: torch.as_tensor(np.asarray(v)) for k, v in weights.items()}
    # Models stored before units were scaled (scale_units) have unit factors of 1.
    state.setdefault("unit_scale", torch.ones(module.n_latent))
    module.load_state_dict(state)
    return module.eval()


def model_entry(adata: AnnData, key: str) -> Mapping:
    """``adata.uns[key]`` checked to be a stored model, with a clear error otherwise."""
    entry = adata.uns.get(key)
    if entry is None or "weights" not in entry or "var_names" not in entry:
        raise KeyError(
            f"No trained model in adata.uns[{key!r}]. Run scsaliency.tl.ortho_ae(adata, "
            f"key_added={key!r}) first."
        )
    return entry


def model_genes(adata: AnnData, entry: Mapping) -> np.ndarray:
    """Column indices in ``adata`` of the genes the model was trained on, in model order.

    A model trained on this AnnData must find all its genes. A model brought in by
    :func:`scsaliency.tl.transfer` may miss up to its ``max_missing`` share; a missing gene's
    index is ``-1`` (it enters the network as zeros).
    """
    from ._input import check_adata

    check_adata(adata)
    names = np.asarray(entry["var_names"]).astype(str)
    idx = adata.var_names.get_indexer(names)
    missing = names[idx < 0]
    if not len(missing):
        return idx
    shown = ", ".join(map(str, missing[:5]))
    transfer = entry.get("transfer")
    if transfer is None:
        raise KeyError(
            f"{len(missing)} of the model's {len(names)} genes are not in adata.var_names "
            f"(e.g. {shown}). Use the AnnData the model was trained on, or "
            "scsaliency.tl.transfer to apply a model to other data."
        )
    max_missing = float(transfer["max_missing"])
    if len(missing) > max_missing * len(names):
        raise ValueError(
            f"{len(missing)} of the model's {len(names)} genes ({len(missing) / len(names):.0%}) "
            f"are not in adata.var_names (e.g. {shown}), more than max_missing="
            f"{max_missing:g}. Check that both use gene symbols (not Ensembl ids) of the same "
            "species, or train a model on this data with scsaliency.tl.ortho_ae."
        )
    return idx
