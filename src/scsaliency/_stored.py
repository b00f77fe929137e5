"""One object for a model stored in ``adata.uns``: the entry, the network, the genes, the counts.

:func:`scsaliency.tl.ortho_ae` and :func:`scsaliency.tl.transfer` write a model entry (plain,
h5ad-safe types) with a ``format_version``. Every tool, getter and plot that needs the model
loads it once with :meth:`StoredModel.load` and reads everything from the object: entries of
older formats are brought up to date here, in one place, and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property

import numpy as np
import torch
from anndata import AnnData

from . import _batches, _validate
from .nn.network import OrthoAE
from .nn.tensors import CellMatrix

#: Format of the entries written by this version. 1: entries written before the version was
#: stored (models of 0.1.0 lack ``params["decoder"]`` and ``weights["unit_scale"]``).
FORMAT_VERSION = 2


def module_to_uns(module: OrthoAE) -> dict[str, np.ndarray]:
    """State dict as numpy arrays, keyed by parameter name."""
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def _upgrade(entry: Mapping, key: str) -> dict:
    """A shallow copy of ``entry`` in the current format; a clear error for a newer one."""
    entry = dict(entry)
    version = int(entry.get("format_version", 1))
    if version > FORMAT_VERSION:
        raise ValueError(
            f"adata.uns[{key!r}] holds a model of format {version}, written by a newer "
            f"scsaliency (this one reads formats up to {FORMAT_VERSION}). Upgrade scsaliency."
        )
    if version == 1:
        params = dict(entry["params"])
        params.setdefault("decoder", "mlp")  # 0.1.0 had the paper's decoder only
        weights = dict(entry["weights"])
        if "unit_scale" not in weights:  # units were not scaled before scale_units
            weights["unit_scale"] = np.ones(int(params["n_latent"]), dtype=np.float32)
        entry.update(params=params, weights=weights)
    entry["format_version"] = FORMAT_VERSION
    return entry


class StoredModel:
    """A model stored by :func:`scsaliency.tl.ortho_ae` or :func:`scsaliency.tl.transfer`.

    Parameters
    ----------
    entry
        The stored entry (``adata.uns[key]``).
    adata
        The AnnData the model is applied to; its genes are matched to the model's once.
    key
        Where the entry is (or will be) stored, for messages.
    """

    def __init__(self, entry: Mapping, adata: AnnData, key: str):
        _validate.check_adata(adata)
        self.key = key
        self.entry = _upgrade(entry, key)
        self.adata = adata
        #: Column of each model gene in ``adata`` (``-1``: missing, for a transferred model).
        self.genes = _match_genes(adata, self.entry)

    @classmethod
    def load(cls, adata: AnnData, key: str = "ortho_ae") -> StoredModel:
        """The model in ``adata.uns[key]``, with a clear error when there is none."""
        return cls(entry_of(adata, key), adata, key)

    @property
    def params(self) -> Mapping:
        """Training settings and outcomes (``uns[key]["params"]``)."""
        return self.entry["params"]

    @property
    def var_names(self) -> np.ndarray:
        """The model's genes, in model order, as strings."""
        return np.asarray(self.entry["var_names"]).astype(str)

    @property
    def layer(self) -> str | None:
        """The counts layer the model was trained on (or transferred with)."""
        return self.params.get("layer")

    @cached_property
    def module(self) -> OrthoAE:
        """The torch network with the stored weights (evaluation mode, CPU)."""
        return build_module(self.entry)

    def programs(self) -> np.ndarray | None:
        """Units x model genes: each gene's fold change over its mean per unit of activity.

        ``None`` for the mlp decoder, which has no programs.
        """
        return programs_of(self.entry)

    def programs_on_var(self) -> np.ndarray | None:
        """:meth:`programs` laid out as ``adata``'s genes x units (NaN for genes not modelled)."""
        return programs_on_var(self.entry, self.genes, self.adata.n_vars)

    @property
    def batch_categories(self) -> dict[str, list[str]]:
        """The batches the model knows, per ``batch_key`` column (empty without batches)."""
        return _batches.stored_categories(self.entry)

    def covariates(self) -> np.ndarray | None:
        """Cells x batches one-hot of ``adata`` for the network, or ``None`` without batches.

        Raises
        ------
        ValueError
            When ``adata`` has batches the model has not seen.
        """
        cats = self.batch_categories
        if not cats:
            return None
        cov, _, unknown = _batches.onehot(self.adata, cats)
        if unknown:
            key, names = next(iter(unknown.items()))
            raise ValueError(
                f"obs[{key!r}] has batches the model in adata.uns[{self.key!r}] was not trained "
                f"on ({', '.join(names[:5])}); fit them with scsaliency.tl.transfer(adata, "
                "reference), which learns only the new batches' parameters."
            )
        return cov

    def counts(self, layer: str | None = None) -> CellMatrix:
        """The model genes' counts of ``X`` or ``layer``, checked to be counts.

        With batches, the cells' one-hot batches travel as extra columns (:meth:`covariates`).
        Sparse input is checked on the used columns only; dense and backed input in row chunks.
        """
        x = _validate.get_matrix(self.adata, layer)
        data = CellMatrix(x, self.genes, covariates=self.covariates())
        what = _validate.matrix_name(layer)
        _validate.check_counts(data._x if data.is_sparse else x, what=what)
        return data


def programs_of(entry: Mapping) -> np.ndarray | None:
    """Units x model genes fold changes of an up-to-date entry's additive decoder, or ``None``."""
    weights = entry["weights"]
    if str(entry["params"]["decoder"]) != "additive" or "decoder.P" not in weights:
        return None
    return np.abs(np.asarray(weights["decoder.P"], dtype=np.float32))


def program_counts(entry: Mapping) -> np.ndarray | None:
    """Units x model genes: the expected counts each unit adds per unit of activity, or ``None``.

    The fold changes of :func:`programs_of` times each gene's mean rate (float64).
    """
    fold = programs_of(entry)
    if fold is None:
        return None
    scale = np.asarray(entry["weights"]["decoder.gene_scale"], dtype=np.float64)
    return fold.astype(np.float64) * scale


def programs_on_var(entry: Mapping, genes: np.ndarray, n_vars: int) -> np.ndarray | None:
    """:func:`programs_of` laid out as ``n_vars`` genes x units (``None`` for the mlp decoder).

    ``genes`` gives each model gene's column (``-1``: absent); genes not modelled are NaN.
    """
    prog = programs_of(entry)
    if prog is None:
        return None
    out = np.full((n_vars, prog.shape[0]), np.nan, dtype=np.float32)
    ok = genes >= 0
    out[genes[ok]] = prog[:, ok].T
    return out


def stored_module(adata: AnnData, key: str) -> OrthoAE:
    """The network in ``adata.uns[key]``, without matching ``adata``'s genes."""
    return build_module(_upgrade(entry_of(adata, key), key))


def entry_of(adata: AnnData, key: str) -> Mapping:
    """``adata.uns[key]`` checked to be a stored model, with a clear error otherwise."""
    entry = adata.uns.get(key)
    if not isinstance(entry, Mapping) or "weights" not in entry or "var_names" not in entry:
        raise KeyError(
            f"No trained model in adata.uns[{key!r}]. Run scsaliency.tl.ortho_ae(adata, "
            f"key_added={key!r}) first."
        )
    return entry


def build_module(entry: Mapping) -> OrthoAE:
    """Rebuild the network of an up-to-date entry (evaluation mode, CPU)."""
    params = entry["params"]
    batch = entry["weights"].get("batch_log")
    module = OrthoAE(
        n_genes=len(entry["var_names"]),
        n_hidden=int(params["n_hidden"]),
        n_latent=int(params["n_latent"]),
        library_size=bool(params["library_size"]),
        decoder=str(params["decoder"]),
        n_batch=0 if batch is None else int(np.shape(batch)[0]),
    )
    state = {k: torch.as_tensor(np.asarray(v)) for k, v in entry["weights"].items()}
    module.load_state_dict(state)
    return module.eval()


def _match_genes(adata: AnnData, entry: Mapping) -> np.ndarray:
    """Column indices in ``adata`` of the model's genes, in model order.

    A model trained on this AnnData must find all its genes. A model brought in by
    :func:`scsaliency.tl.transfer` may miss up to its ``max_missing`` share; a missing gene's
    index is ``-1`` (it enters the network as zeros).
    """
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
