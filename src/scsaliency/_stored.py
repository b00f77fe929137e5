"""Stored state: the one module that reads what the tools wrote into an AnnData.

The model: :func:`scsaliency.tl.ortho_ae` and :func:`scsaliency.tl.transfer` write a model entry
(plain, h5ad-safe types) with a ``format_version``. Every tool, getter and plot that needs the
model loads it once with :meth:`StoredModel.load` and reads everything from the object: entries
of older formats are brought up to date here, in one place, and nowhere else.

The results of ``tl.saliency`` and ``tl.geneset_impact`` (and ``tl.stability``'s labels): read
with clear errors by :func:`saliency_frame`, :func:`impact_entry`, :func:`stored_units` and
:func:`stored_set_table`, shared by the tools, getters, plots and the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property

import numpy as np
import pandas as pd
import torch
from anndata import AnnData

from ._core.labels import CARRIES, INACTIVE, NO_SET, UNSTABLE
from ._core.matching import unit_rows
from ._utils import batches as _batches
from ._utils import validate as _validate
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


def _checked(adata: AnnData, key: str, fields: tuple[str, ...], missing: str) -> Mapping:
    """``adata.uns[key]`` if it is a mapping with ``fields``; else ``KeyError(missing)``."""
    entry = adata.uns.get(key)
    if not isinstance(entry, Mapping) or any(f not in entry for f in fields):
        raise KeyError(missing)
    return entry


def entry_of(adata: AnnData, key: str) -> Mapping:
    """``adata.uns[key]`` checked to be a stored model, with a clear error otherwise."""
    return _checked(
        adata,
        key,
        ("weights", "var_names"),
        f"No trained model in adata.uns[{key!r}]. Run scsaliency.tl.ortho_ae(adata, "
        f"key_added={key!r}) first.",
    )


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


def program_vectors(entry: Mapping) -> np.ndarray:
    """Units x model genes: ``sqrt`` of each unit's expected counts, rows of length 1.

    ``entry`` is an up-to-date stored model with the additive decoder (the vectors that
    :func:`scsaliency._core.matching.matched_cosines` compares).
    """
    counts = program_counts(entry)
    if counts is None:
        raise ValueError("The mlp decoder has no gene programs to compare.")
    return unit_rows(np.sqrt(counts))


# Results of tl.saliency, tl.geneset_impact and tl.stability

#: A gene set that some unit carries in at most this share of ``tl.stability``'s runs is a
#: finding of the seed: the plots grey its name and the report counts it.
SEED_DEPENDENT = 0.5

#: Gene sets whose median over ``tl.stability``'s runs of their largest z-score over units is at
#: least this reproduced best between answers with other seeds (``docs/benchmarks.md``): the
#: report counts them.
ROBUST_ZSCORE = 5.0


def saliency_frame(adata: AnnData, key: str = "saliency") -> pd.DataFrame:
    """Model genes x units of ``varm[key]`` as a DataFrame (units named ``"0"``, ``"1"``, ...)."""
    entry = saliency_entry(adata, key)
    genes = np.asarray(entry["var_names"]).astype(str)
    m = adata.varm[key][adata.var_names.get_indexer(genes)]
    return pd.DataFrame(m, index=genes, columns=[str(k) for k in range(m.shape[1])])


def impact_entry(adata: AnnData, key: str = "geneset_impact") -> Mapping:
    """``adata.uns[key]`` checked to hold a gene-set impact, with a clear error otherwise."""
    return _checked(
        adata,
        key,
        ("impact", "scaled"),
        f"No gene-set impact in adata.uns[{key!r}]. Run "
        f"scsaliency.tl.geneset_impact(adata, gene_sets, key_added={key!r}) first.",
    )


def saliency_entry(adata: AnnData, key: str = "saliency") -> Mapping:
    """``adata.uns[key]`` checked to hold a saliency result (with ``varm[key]``)."""
    missing = (
        f"No saliency under {key!r}. Run scsaliency.tl.saliency(adata, key_added={key!r}) first."
    )
    entry = _checked(adata, key, ("var_names",), missing)
    if key not in adata.varm:
        raise KeyError(missing)
    return entry


def history_of(adata: AnnData, key: str = "ortho_ae") -> tuple[pd.DataFrame, Mapping]:
    """The training history (epochs x measures) and the settings of the model ``key``."""
    missing = f"No training history in adata.uns[{key!r}]. Run scsaliency.tl.ortho_ae first."
    entry = _checked(adata, key, ("history", "params"), missing)
    return entry["history"], entry["params"]


def stability_entry(adata: AnnData, key: str = "ortho_ae", *, sets: bool = False) -> Mapping:
    """``adata.uns[key]["stability"]`` of a model, checked; ``sets``: measured with gene sets."""
    missing = (
        f"No stability for the model in adata.uns[{key!r}]. Run "
        f"scsaliency.tl.stability(adata, gene_sets, model_key={key!r}) first."
    )
    stab = _checked(adata, key, ("stability",), missing)["stability"]
    if sets and "sets" not in stab:
        raise KeyError(
            f"The stability of adata.uns[{key!r}] was measured without gene sets. Run "
            f"scsaliency.tl.stability(adata, gene_sets, model_key={key!r}) to label the runs."
        )
    return stab


def scan_entry(adata: AnnData, key: str = "n_latent_scan") -> Mapping:
    """``adata.uns[key]`` checked to hold a ``tl.n_latent_scan`` result."""
    missing = f"No scan in adata.uns[{key!r}]. Run scsaliency.tl.n_latent_scan first."
    return _checked(adata, key, ("table",), missing)


def stored_units(adata: AnnData, key: str = "geneset_impact") -> pd.DataFrame | None:
    """The stored units table of an impact, with the model's stability when measured.

    Indexed by unit (``"0"``, ``"1"``, ...); ``None`` for results without a units table. When
    :func:`scsaliency.tl.stability` has scored the model's units, the table gains
    ``stability``, ``stability_cosine``, ``consensus_set`` and ``consensus_sets`` (empty
    without consensus labels). Active units below the stored ``min_stability`` get the status
    ``"unstable"``; with consensus labels, a stable unit carries its consensus set (or no set),
    whatever its own best set, and an unstable unit's label names its consensus set or, without
    one, the set it carries in this run, marked ``(unstable)``.
    """
    e = impact_entry(adata, key)
    if "units" not in e:
        return None
    table = e["units"].copy()
    table["stability"] = np.nan
    table["stability_cosine"] = np.nan
    table["consensus_set"] = ""
    table["consensus_sets"] = ""
    if "gene_sets" not in table:  # stored before near-ties were shown: the best set alone
        table["gene_sets"] = table["gene_set"].where(table["status"] == CARRIES, "")
    model = _model_of(adata, e)
    if model is not None and "consensus" in model:
        # a consensus model: each unit is a program that came back in this share of the runs
        units = model["consensus"]["units"]
        table["stability"] = units["runs"].reindex(table.index).to_numpy()
        table["stability_cosine"] = units["cosine"].reindex(table.index).to_numpy()
        return table
    stab = _model_stability(adata, e)
    if stab is None:
        return table
    units, minimum = stab["units"], float(stab["params"]["min_stability"])
    table["stability"] = units["stability"].reindex(table.index).to_numpy()
    table["stability_cosine"] = units["cosine"].reindex(table.index).to_numpy()
    active = table["status"] != INACTIVE
    own = table["status"] == CARRIES  # the run's own label, before any consensus
    names = pd.Series(table.index, index=table.index)
    if "consensus_set" in units:
        consensus = units["consensus_set"].reindex(table.index).fillna("").astype(str)
        table["consensus_set"] = consensus.to_numpy()
        if "consensus_sets" in units:  # results stored before it: the one set
            every = units["consensus_sets"].reindex(table.index).fillna("").astype(str)
            table["consensus_sets"] = every.to_numpy()
        else:
            table["consensus_sets"] = consensus.to_numpy()
        has = active & (consensus != "")
        table.loc[has, "status"] = CARRIES
        table.loc[has, "label"] = names[has] + ": " + consensus[has]
        table.loc[active & ~has, "status"] = NO_SET
        table.loc[active & ~has, "label"] = names[active & ~has] + f": {NO_SET}"
    low = active & (table["stability"] < minimum)
    # an unstable unit names its consensus set, or else the set it carries in this run: a lead
    carried = low & ((table["status"] == CARRIES) | own)
    shown = table["consensus_set"].where(table["consensus_set"] != "", table["gene_set"])
    table.loc[carried, "label"] = names[carried] + ": " + shown[carried] + " (unstable)"
    table.loc[low & ~carried, "label"] = names[low & ~carried] + f": {UNSTABLE}"
    table.loc[low, "status"] = UNSTABLE
    return table


def set_runs(adata: AnnData, key: str = "geneset_impact") -> pd.Series | None:
    """Per gene set, the share of ``tl.stability``'s runs in which some unit carries it.

    For the model behind the impact in ``uns[key]``; ``None`` until :func:`scsaliency.tl.stability`
    ran on it with gene sets.
    """
    sets = stored_set_table(adata, key)
    return None if sets is None else sets["runs"]


def stored_set_table(adata: AnnData, key: str = "geneset_impact") -> pd.DataFrame | None:
    """``tl.stability``'s per-set table for the model behind the impact, ``None`` as above.

    Columns added since (``median_zscore``, ``consensus_unit``) are absent from results
    stored before them.
    """
    stab = _model_stability(adata, impact_entry(adata, key))
    return None if stab is None or "sets" not in stab else stab["sets"]


def min_zscore(params: Mapping) -> float:
    """``tl.stability``'s stored ``min_zscore`` (:data:`ROBUST_ZSCORE` for results before it)."""
    return float(params.get("min_zscore", ROBUST_ZSCORE))


def shown_sets(table: pd.DataFrame) -> pd.Series:
    """Per unit of a :func:`stored_units`, the set(s) its label names, ``""`` for none.

    Near-ties (``gene_sets``) are named together, joined by ``" / "``.

    A unit names its set (the consensus set when there is one) when it carries it, or carried
    it before :func:`scsaliency.tl.stability` marked the unit unstable. The one rule behind the
    plots' unit labels and the report's table of units.
    """
    units = pd.Series(table.index, index=table.index)
    unstable_with_set = (table["status"] == UNSTABLE) & (table["label"] != units + f": {UNSTABLE}")
    named = (table["status"] == CARRIES) | unstable_with_set
    consensus = table["consensus_set"]
    own = table["gene_sets"].where(table["gene_sets"] != "", table["gene_set"])
    return consensus.where(consensus != "", own).where(named, "")


def _model_of(adata: AnnData, e: Mapping) -> Mapping | None:
    """The stored model behind an impact, if any."""
    saliency = adata.uns.get(e.get("params", {}).get("saliency_key", "saliency"))
    if not isinstance(saliency, Mapping):
        return None
    model = adata.uns.get(saliency.get("params", {}).get("model_key", "ortho_ae"))
    return model if isinstance(model, Mapping) else None


def _model_stability(adata: AnnData, e: Mapping) -> Mapping | None:
    """``tl.stability``'s result for the model behind an impact, if any."""
    model = _model_of(adata, e)
    if model is None or "stability" not in model:
        return None
    return model["stability"]
