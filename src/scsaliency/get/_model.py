from __future__ import annotations

from anndata import AnnData

from .._stored import stored_module
from ..nn.network import OrthoAE


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
    The :class:`~scsaliency.nn.OrthoAE` in evaluation mode on the CPU, with the trained
    weights. Its input genes are ``adata.uns[key]["var_names"]``, in that order.
    """
    return stored_module(adata, key)
