"""``tl.transfer``: explain new data with a model trained on other data (no training)."""

from __future__ import annotations

import copy as _copy
import warnings
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from anndata import AnnData

from .._stored import StoredModel, entry_of, module_to_uns
from .._utils import batches as _batches
from .._utils import validate as _validate
from .._utils.docs import doc_params
from ..nn.inference import embed
from ..nn.tensors import resolve_device
from ..nn.training import fit_batches


def _reference_entry(reference: AnnData | str | PathLike, model_key: str) -> tuple[dict, str]:
    """The stored model of ``reference`` (an AnnData or an .h5ad path) and where it came from."""
    if isinstance(reference, AnnData):
        return _copy.deepcopy(dict(entry_of(reference, model_key))), "AnnData"
    if not isinstance(reference, str | PathLike):
        raise TypeError(
            f"reference must be an AnnData or the path of an .h5ad file, got a "
            f"{type(reference).__name__}."
        )
    path = Path(reference)
    if not path.is_file():
        raise FileNotFoundError(f"reference file not found: {path}")
    import anndata as ad

    try:
        ref = ad.read_h5ad(path, backed="r")  # the model is in uns; the matrix stays on disk
    except Exception as err:  # h5py and anndata raise many types for a damaged file
        raise ValueError(
            f"cannot read the reference {path}: not a readable .h5ad file ({type(err).__name__})."
        ) from err
    try:
        entry = _copy.deepcopy(dict(entry_of(ref, model_key)))
    finally:
        ref.file.close()
    return entry, str(path.resolve())


@doc_params("batch_size", "device", "copy")
def transfer(
    adata: AnnData,
    reference: AnnData | str | PathLike,
    *,
    model_key: str = "ortho_ae",
    key_added: str | None = None,
    layer: str | None = None,
    max_missing: float = 0.5,
    fit_epochs: int = 50,
    random_state: int = 0,
    batch_size: int = 1024,
    device: str | torch.device = "auto",
    copy: bool = False,
) -> AnnData | None:
    """Apply a model trained on other data to ``adata``: its representation, no training.

    The paper's "fixed feature extractor": a model trained once by
    :func:`scsaliency.tl.ortho_ae` describes new data in the same units, so the same unit
    carries the same gene sets in both, and groups of cells can be compared across data sets.
    After it, :func:`scsaliency.tl.saliency`, :func:`scsaliency.tl.geneset_impact`, ``get`` and
    ``pl`` work on ``adata`` as on the reference.

    Genes are matched by name, in any order. The model's genes that ``adata`` lacks enter the
    network as zeros, with a warning giving how many; ``adata``'s genes that the model does
    not know are ignored. Size factors are computed as in training: each cell's total over the
    model's genes divided by the median total stored with the model.

    A model trained with ``batch_key`` needs the same ``obs`` columns in ``adata``. Cells of
    batches the model knows are represented exactly as in the reference. Batches it has not
    seen get parameters of their own (the encoder's bias and the rate's factor per gene,
    started from the average known batch), fitted on their cells with every other weight held
    fixed, as scArches fits a query's batch parameters; then the new batches' cells land in
    the reference's units.

    Parameters
    ----------
    adata
        Cells x genes with raw integer counts in ``X`` or in ``layer``, dense, sparse or backed.
        Not modified apart from the keys below.
    reference
        An AnnData holding a model in ``uns[model_key]``, or the path of an ``.h5ad`` file
        holding one (read backed: its matrix is not loaded).
    model_key
        ``key_added`` of the model in the reference.
    key_added
        Where the model and representation go in ``adata``; default ``model_key``.
    layer
        Counts layer of ``adata``; ``None`` uses ``X`` (whatever layer the reference used).
    max_missing
        Largest share of the model's genes that ``adata`` may lack; above it, an error (a
        model that sees less than half its genes describes other cells than the data's).
    fit_epochs
        Epochs over the new batches' cells when fitting their parameters (models with
        ``batch_key`` and batches they have not seen only).
    random_state
        Seed of the minibatch order of that fit.
    {batch_size}
    {device}
    {copy}

    Returns
    -------
    ``None``, or the copy. Stores:

    ``adata.obsm["X_" + key_added]``
        Cells x units (float32), the representation of ``adata``'s cells.
    ``adata.uns[key_added]``
        The reference's model (``params``, ``history``, ``var_names``, ``weights``; see
        :func:`scsaliency.tl.ortho_ae`), with ``params["layer"]`` set to ``layer``, and
        ``"transfer"``: ``source`` (the file's path, or ``"AnnData"``), ``model_key``,
        ``n_genes`` (the model's), ``n_missing`` (of those, not in ``adata``) and
        ``max_missing``; after fitting new batches, ``fitted_batches`` (per key) and
        ``fit_loss`` (per epoch), and ``"batch_categories"`` lists them after the known ones.
    ``adata.varm[key_added + "_programs"]``
        The model's gene programs on ``adata``'s genes (additive decoder), as in
        :func:`scsaliency.tl.ortho_ae`.
    """
    _validate.check_tool(
        adata, copy=copy, key_added=key_added, batch_size=batch_size, device=device
    )
    _validate.check_numbers(max_missing=max_missing)
    _validate.check_integers(1, fit_epochs=fit_epochs)
    random_state = _validate.seed(random_state)
    if not 0 <= max_missing < 1:
        raise ValueError(f"max_missing must be in [0, 1), got {max_missing}.")
    key_added = model_key if key_added is None else key_added
    entry, source = _reference_entry(reference, model_key)
    prior = entry.get("transfer")
    entry["transfer"] = {
        "source": source if prior is None else f"{prior['source']} (via {source})",
        "model_key": model_key,
        "n_genes": len(entry["var_names"]),
        "max_missing": float(max_missing),
    }
    fitted = _extend_batches(entry, adata)  # new batches get rows of their own
    model = StoredModel(entry, adata, key_added)  # raises past max_missing, before any work
    genes = model.genes
    n_missing = int((genes < 0).sum())
    model.entry["transfer"]["n_missing"] = n_missing
    if n_missing:
        names = model.var_names[genes < 0]
        warnings.warn(
            f"{n_missing} of the model's {len(genes)} genes are not in adata.var_names "
            f"(e.g. {', '.join(map(str, names[:5]))}); they enter the model as zeros.",
            stacklevel=2,
        )
    data = model.counts(layer)
    dev = resolve_device(device)
    module = model.module
    if fitted:
        losses = _fit_new_batches(
            module, data, adata, model, fitted, epochs=fit_epochs, device=dev, seed=random_state
        )
        model.entry["weights"] = module_to_uns(module)
        model.entry["transfer"]["fitted_batches"] = {
            k: np.asarray(v, dtype=object) for k, v in fitted.items()
        }
        model.entry["transfer"]["fit_loss"] = np.asarray(losses, dtype=np.float64)
    rep = embed(module.to(dev), data, device=dev, batch_size=batch_size)
    entry = model.entry
    params = dict(entry["params"])
    params.pop("layer", None)
    if layer is not None:
        params["layer"] = layer
    entry["params"] = params
    adata = adata.copy() if copy else adata
    adata.obsm["X_" + key_added] = rep
    adata.uns[key_added] = entry
    programs = model.programs_on_var()
    if programs is not None:
        adata.varm[key_added + "_programs"] = programs
    return adata if copy else None


def _extend_batches(entry: dict, adata: AnnData) -> dict[str, list[str]]:
    """Give the batches of ``adata`` that the model has not seen rows of their own, in place.

    Each new batch starts from the average of its covariate's known batches (the encoder's
    bias and the rate's factor); the known batches keep their rows, so their cells are
    represented exactly as before. Returns the new batches per key (empty: nothing to fit).
    """
    cats = _batches.stored_categories(entry)
    if not cats:
        return {}
    new = {}
    for key, known in cats.items():
        seen = set(known)
        fresh = [b for b in sorted(set(_batches.labels(adata, key))) if b not in seen]
        if fresh:
            new[key] = fresh
    if not new:
        return {}
    weights = dict(entry["weights"])
    hidden, log = np.asarray(weights["batch_hidden"]), np.asarray(weights["batch_log"])
    rows_h, rows_l, group, start = [], [], [], 0
    for k, (key, known) in enumerate(cats.items()):
        block = slice(start, start + len(known))
        start += len(known)
        extra = len(new.get(key, []))
        rows_h += [hidden[block], np.repeat(hidden[block].mean(0, keepdims=True), extra, 0)]
        rows_l += [log[block], np.repeat(log[block].mean(0, keepdims=True), extra, 0)]
        group += [k] * (len(known) + extra)
    weights["batch_hidden"] = np.vstack(rows_h).astype(hidden.dtype)
    weights["batch_log"] = np.vstack(rows_l).astype(log.dtype)
    weights["batch_group"] = np.asarray(group, dtype=np.int64)
    entry["weights"] = weights
    entry["batch_categories"] = {
        key: np.asarray([*known, *new.get(key, [])], dtype=object) for key, known in cats.items()
    }
    return new


def _fit_new_batches(module, data, adata, model, fitted, *, epochs, device, seed) -> list[float]:
    """Fit only the new batches' rows on the cells of new batches (a few seconds)."""
    cats = model.batch_categories
    rows, start = [], 0
    for key, names in cats.items():
        rows += [start + names.index(b) for b in fitted.get(key, [])]
        start += len(names)
    cells = np.zeros(adata.n_obs, dtype=bool)
    for key, names in fitted.items():
        cells |= _batches.labels(adata, key).isin(names).to_numpy()
    return fit_batches(
        module,
        data,
        np.flatnonzero(cells),
        np.asarray(rows),
        epochs=epochs,
        lr=1e-2,
        batch_size=256,
        device=device,
        generator=torch.Generator().manual_seed(seed),
    )
