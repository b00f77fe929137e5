from __future__ import annotations

from anndata import AnnData

from .._store import model_entry, module_from_uns
from ..module import OrthoAE


def model(adata: AnnData, key: str = "ortho_ae") -> OrthoAE:
    """Rebuild the torch network stored by :func:`scsaliency.tl.ortho_ae`.

    Parameters
    ----------
    adata
        AnnData holding ``uns[key]`` (also after ``write_h5ad``/``read_h5ad``).
    key
        The ``key_added`` the model was trained with.

    Returns
    -------
    The :class:`~scsaliency.module.OrthoAE` in evaluation mode on the CPU, with the trained
    weights. Its input genes are ``adata.uns[key]["var_names"]``, in that order.
    """
    return module_from_uns(model_entry(adata, key))
