"""Checks on what users pass in, done before any long computation.

Every error names the problem and what to do about it. Nothing here modifies the AnnData.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

#: Rows read at a time when a dense matrix is scanned, so a check never copies the whole matrix.
_CHUNK = 4096


def check_adata(adata: AnnData) -> None:
    """An AnnData with cells, genes and unique gene names; a clear error otherwise."""
    if not isinstance(adata, AnnData):
        raise TypeError(f"Expected an AnnData, got a {type(adata).__name__}.")
    if adata.n_obs == 0:
        raise ValueError(
            f"adata has no cells (shape {adata.n_obs} x {adata.n_vars}); check the filtering "
            "or subsetting that produced it."
        )
    if adata.n_vars == 0:
        raise ValueError(f"adata has no genes (shape {adata.n_obs} x {adata.n_vars}).")
    dup = adata.var_names[adata.var_names.duplicated()].unique()
    if len(dup):
        shown = ", ".join(map(repr, dup[:5])) + (", ..." if len(dup) > 5 else "")
        raise ValueError(
            f"adata.var_names has {len(dup)} repeated gene names ({shown}); genes must be "
            "named uniquely. Run adata.var_names_make_unique() first."
        )


def get_matrix(adata: AnnData, layer: str | None):
    """Return ``adata.X`` or ``adata.layers[layer]`` without copying it."""
    if layer is None:
        if adata.X is None:
            raise ValueError("adata.X is empty; pass `layer=` naming the layer that holds counts.")
        return adata.X
    if layer not in adata.layers:
        raise KeyError(
            f"Layer {layer!r} not found in adata.layers (available: {list(adata.layers)}). "
            "Pass layer=None to use adata.X."
        )
    return adata.layers[layer]


def matrix_name(layer: str | None) -> str:
    """How error messages name the matrix: ``adata.X`` or ``adata.layers['counts']``."""
    return "adata.X" if layer is None else f"adata.layers[{layer!r}]"


def var_mask(adata: AnnData, mask_var: str | Sequence[bool] | np.ndarray | None) -> np.ndarray:
    """Resolve ``mask_var`` as :func:`scanpy.pp.pca` does: a ``var`` column or a boolean mask.

    ``None`` is ``"highly_variable"`` when ``adata.var`` has that column, else every gene.
    """
    if mask_var is None:
        if "highly_variable" not in adata.var.columns:
            return np.ones(adata.n_vars, dtype=bool)
        mask_var = "highly_variable"
    if isinstance(mask_var, str):
        if mask_var not in adata.var.columns:
            raise KeyError(
                f"mask_var={mask_var!r} is not a column of adata.var "
                f"(columns: {list(adata.var.columns)}). Pass a boolean column name or a mask."
            )
        mask = adata.var[mask_var].to_numpy()
    else:
        mask = np.asarray(mask_var)
    if mask.dtype != bool or mask.shape != (adata.n_vars,):
        raise ValueError(
            f"mask_var must be boolean with one entry per gene ({adata.n_vars}); "
            f"got dtype {mask.dtype} and shape {mask.shape}."
        )
    if not mask.any():
        raise ValueError("mask_var selects no gene; select at least one.")
    return mask


def _row_chunks(n: int, size: int = _CHUNK):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def check_counts(
    x, *, what: str = "adata.X", cols: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Check that ``x`` holds finite, non-negative integer counts; return cell and gene totals.

    Cell totals are over the columns selected by the boolean mask ``cols`` (all if ``None``),
    gene totals over all cells.

    Sparse matrices are checked through their stored values; dense and backed matrices in
    row chunks, so nothing is densified as a whole.
    """
    n_obs, n_vars = x.shape
    cell_totals = np.zeros(n_obs, dtype=np.float64)
    gene_totals = np.zeros(n_vars, dtype=np.float64)

    def check_values(values: np.ndarray) -> None:
        if values.size == 0:
            return
        if not np.isfinite(values).all():
            raise ValueError(
                f"{what} contains NaN or infinite values. Counts must be finite; "
                "fill or remove those entries before training."
            )
        if (values < 0).any():
            raise ValueError(
                f"{what} contains negative values, so it does not hold raw counts. "
                "Pass layer= naming a layer of raw UMI counts (e.g. layer='counts')."
            )
        if not np.issubdtype(values.dtype, np.integer) and (values != np.round(values)).any():
            raise ValueError(
                f"{what} contains non-integer values, so it does not hold raw counts "
                "(log-normalised data?). Pass layer= naming a layer of raw UMI counts "
                "(e.g. layer='counts'), or keep a copy of the counts before normalising."
            )

    if sp.issparse(x):
        check_values(np.asarray(x.data))
        select = np.ones(n_vars) if cols is None else np.asarray(cols, dtype=np.float64)
        cell_totals = np.asarray(x @ select, dtype=np.float64).ravel()
        gene_totals = np.asarray(x.sum(axis=0), dtype=np.float64).ravel()
        return cell_totals, gene_totals
    for rows in _row_chunks(n_obs):
        block = x[rows]
        block = block.toarray() if sp.issparse(block) else np.asarray(block)
        check_values(block)
        cell_totals[rows] = (block if cols is None else block[:, cols]).sum(axis=1)
        gene_totals += block.sum(axis=0)
    return cell_totals, gene_totals


def check_obs_key(adata: AnnData, key: str, *, what: str = "groupby") -> pd.Series:
    """Return ``adata.obs[key]`` as categories; fail clearly for unknown keys or empty groups."""
    if key not in adata.obs.columns:
        raise KeyError(
            f"{what}={key!r} is not a column of adata.obs (columns: {list(adata.obs.columns)})."
        )
    col = adata.obs[key]
    if not isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype("category")
    return col


def check_group(labels: pd.Series, group: str, *, key: str) -> None:
    """Fail clearly when ``group`` is not a category of ``labels`` or has no cells."""
    if group not in labels.cat.categories:
        raise KeyError(
            f"Group {group!r} is not a category of obs[{key!r}] "
            f"(categories: {list(labels.cat.categories)})."
        )
    if not (labels == group).any():
        raise ValueError(f"Group {group!r} of obs[{key!r}] has no cells.")


def check_at_least(minimum: float, **values: float | None) -> None:
    """Fail clearly when a numeric parameter is below ``minimum`` (``None`` values pass)."""
    for name, value in values.items():
        if value is not None and not value >= minimum:
            raise ValueError(f"{name} must be at least {minimum:g}, got {value!r}.")


def check_fraction(name: str, value: float, *, closed: bool = False) -> None:
    """Fail clearly unless ``0 < value < 1`` (``<= 1`` with ``closed``)."""
    if not (0 < value < 1 or (closed and value == 1)):
        raise ValueError(f"{name} must be in (0, {'1]' if closed else '1)'}, got {value!r}.")


def group_codes(adata: AnnData, groupby: str | None) -> tuple[np.ndarray | None, list[str]]:
    """Integer group per cell (-1 for NaN labels) and the group names; empty groups dropped."""
    if groupby is None:
        return None, []
    labels = check_obs_key(adata, groupby)
    counts = labels.value_counts()
    empty = [str(c) for c in labels.cat.categories if counts.get(c, 0) == 0]
    if empty:
        warnings.warn(
            f"Groups of obs[{groupby!r}] with no cells are left out: {empty}.", stacklevel=3
        )
        labels = labels.cat.remove_categories(empty)
    if len(labels.cat.categories) == 0:
        raise ValueError(f"obs[{groupby!r}] has no labelled cells.")
    return labels.cat.codes.to_numpy().astype(np.int64), [str(c) for c in labels.cat.categories]


def check_stored_groupby(entry: Mapping, key: str, groupby: str | None) -> None:
    """Check that a stored impact was grouped by ``groupby`` (``None``: whatever it was)."""
    stored = entry.get("params", {}).get("groupby")
    if groupby is not None and stored != groupby:
        raise ValueError(
            f"uns[{key!r}] was computed with groupby={stored!r}, not {groupby!r}; "
            f"run tl.geneset_impact(adata, ..., groupby={groupby!r}) or leave groupby out."
        )


def check_integers(minimum: int, **values) -> None:
    """Fail clearly unless each value is an integer (numpy's too) of at least ``minimum``.

    ``None`` values pass; so do floats with an integer value (``64.0``), which torch would
    refuse with its own message.
    """
    for name, value in values.items():
        if value is None:
            continue
        integral = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        if not integral and isinstance(value, (float, np.floating)) and float(value).is_integer():
            integral = True
        if not integral:
            raise TypeError(f"{name} must be an integer, got {value!r}.")
        if value < minimum:
            raise ValueError(f"{name} must be at least {minimum}, got {value!r}.")


def check_numbers(**values) -> None:
    """Fail clearly unless each value is a real, finite number (``None`` passes)."""
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name} must be a number, got {value!r}.")
        if not np.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}.")


def seed(random_state) -> int:
    """``random_state`` as a seed for numpy and torch: a non-negative integer below 2**63.

    ``None`` draws one from the operating system (not reproducible), as scanpy allows; the
    drawn seed is returned so that the caller can store it.
    """
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
    integral = isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool)
    if not integral or not 0 <= int(random_state) < 2**63:
        raise ValueError(
            f"random_state must be a non-negative integer (or None for a fresh seed), "
            f"got {random_state!r}."
        )
    return int(random_state)


def check_key(key_added, *, what: str = "key_added") -> None:
    """A key that ``write_h5ad`` stores and reads back: a non-empty string without ``/``, NUL."""
    if not isinstance(key_added, str) or not key_added or "/" in key_added or "\x00" in key_added:
        raise ValueError(
            f"{what} must be a non-empty string without '/' or NUL (h5ad files cannot store "
            f"other keys), got {key_added!r}."
        )


def check_copy(adata: AnnData, copy: bool) -> None:
    """``copy=True`` cannot copy backed data into memory: say so before any computation."""
    if copy and adata.isbacked:
        raise ValueError(
            "copy=True on backed data: an AnnData opened with backed='r' cannot be copied "
            "into memory. Pass copy=False (results go into adata's obsm/varm/uns in memory, "
            "the counts stay on disk), or load it with adata.to_memory() first."
        )


def check_tool(
    adata: AnnData,
    *,
    copy: bool = False,
    key_added: str | None = None,
    batch_size: int | None = None,
    device=None,
) -> None:
    """The arguments every tool shares, checked before any computation."""
    check_adata(adata)
    check_copy(adata, copy)
    if key_added is not None:
        check_key(key_added)
    check_integers(1, batch_size=batch_size)
    if device is not None:
        from ..nn.tensors import resolve_device

        resolve_device(device)
