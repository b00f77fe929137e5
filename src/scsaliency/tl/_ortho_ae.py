"""``tl.ortho_ae``: train the orthogonal autoencoder and store its representation."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from tqdm.auto import tqdm

from .._core.consensus import cluster_programs, median_direction
from .._core.matching import unit_rows
from .._stored import FORMAT_VERSION, module_to_uns, programs_on_var
from .._utils import batches as _batches
from .._utils import validate as _validate
from .._utils.docs import doc_params
from ..nn.inference import embed
from ..nn.network import DECODERS, OrthoAE
from ..nn.start import (
    PROGRAM_INITS,
    batch_means,
    counts_of,
    program_profiles,
    sampled_cells,
)
from ..nn.tensors import CellMatrix, resolve_device
from ..nn.training import TrainConfig, TrainResult, _world, default_lr, train


@doc_params("device", "copy")
def ortho_ae(
    adata: AnnData,
    *,
    n_latent: int = 64,
    n_hidden: int = 128,
    ortho_weight: float = 0.1,
    decoder: Literal["additive", "mlp"] = "additive",
    program_init: Literal["varimax", "flat"] = "varimax",
    program_lr: float = 1.0,
    center_input: bool | None = None,
    sparsity: float = 0.0,
    scale_units: bool = True,
    library_size: bool = True,
    layer: str | None = None,
    batch_key: str | Sequence[str] | None = None,
    mask_var: str | Sequence[bool] | np.ndarray | None = None,
    optimizer: Literal["adam", "sgd"] = "adam",
    lr: float | None = None,
    batch_size: int | None = 128,
    max_epochs: int = 300,
    patience: int = 10,
    tol: float = 1e-3,
    validation_fraction: float = 0.1,
    n_runs: int = 1,
    random_state: int = 0,
    device: str | torch.device = "auto",
    distributed: bool | None = None,
    key_added: str = "ortho_ae",
    copy: bool = False,
    progress: bool = True,
) -> AnnData | None:
    """Train an orthogonal autoencoder on raw counts (Kinalis et al. 2019).

    The encoder is the paper's (genes -> ``n_hidden`` -> ``n_latent``, Softplus after each
    layer); the loss is the Poisson negative log-likelihood plus ``ortho_weight * ||I - W
    W^T||_F`` on the last encoder layer. The decoder is additive by default (each unit adds one
    non-negative gene program); ``decoder="mlp"`` is the paper's. Why each default:
    :doc:`/method`.

    Parameters
    ----------
    adata
        Cells x genes with raw integer counts in ``X`` or in ``layer``; dense, sparse or backed.
    n_latent
        Number of representation units, at most the number of used genes.
    n_hidden
        Width of the hidden layer.
    ortho_weight
        Weight of the orthogonality penalty; 0 switches it off.
    decoder
        ``"additive"``: ``rate = s * (z @ programs + baseline)``, each program a non-negative
        gene profile (Poisson NMF whose activities come from the encoder). ``"mlp"``: the
        paper's two-layer Softplus decoder, which smears programs over units.
    program_init
        Start of the additive programs: ``"varimax"``, half from varimax-rotated principal
        axes (finds weak programs more often, more epochs); ``"flat"``, all equal.
    program_lr
        The additive decoder's learning rate as a share of ``lr``; below 1 can separate hard
        cases a little better, at the cost of more epochs.
    center_input
        Train the first layer on the input minus its mean (folded into the bias afterwards).
        ``None``: for the additive decoder only; ``False`` is the paper's training.
    sparsity
        Weight of an L1 penalty on the unit activities. Off by default: it loses weak programs.
    scale_units
        After training, give each additive program length 1 and its unit's activity the old
        length (rates unchanged), so that distances weigh units by what they do to a cell.
    library_size
        Encoder input ``log1p(counts / s)`` and rate times ``s``, the cell's size factor.
        ``False`` is the paper's mode: the units then follow library size.
    layer
        Layer holding the counts; ``None`` uses ``adata.X``.
    batch_key
        One or more categorical ``obs`` columns of technical covariates (sample, donor, run,
        technology): a learned bias per batch on the encoder's first layer and a factor per
        batch and gene on the rate (:func:`scsaliency.get.batch_effects`), so that the units
        need not carry what differs between batches. Do not pass a column that is the biology
        itself (a condition nested in the donors would be explained away too).
    mask_var
        Genes the model uses: a boolean ``var`` column or mask, as in :func:`scanpy.pp.pca`
        (``None``: ``var["highly_variable"]`` if present, else all; genes without counts are
        left out). To explain gene sets, train on their genes (:doc:`/method`), as the command
        line does: ``mask_var=ss.genesets.in_sets(adata.var_names, sets)``.
    optimizer
        ``"adam"``, or ``"sgd"`` with Nesterov momentum 0.9 as in the paper.
    lr
        Learning rate; ``None``: Adam 2e-3 (additive) or 1e-3 (mlp), SGD 1e-2.
    batch_size
        Cells per minibatch; ``None`` trains on all training cells at once.
    max_epochs
        Upper bound on epochs.
    patience
        Stop after this many epochs without improvement (the best epoch's weights kept).
    tol
        Smallest improvement that counts for ``patience``, as a share of the validation loss's
        excess over the saturated model's; 0 counts any improvement.
    validation_fraction
        Share of cells held out, at random, for the validation loss.
    n_runs
        1: a single run, the fast option, whose programs and labels depend on the seed. More:
        the consensus model, cNMF's recipe for an autoencoder: ``n_runs`` runs of ``n_latent``
        units, their programs clustered, the clusters found in at least half of the runs kept
        as the units (median program, fixed) and a last network trained for the activities.
        The number of units is what the runs reproduce; ``n_latent`` only needs to be large
        enough (:doc:`/method`). Costs about ``n_runs + 1`` trainings; the command line uses 6.
    random_state
        Seed of the initialisation, split and minibatch order (and of the runs' seeds); the
        same seed gives the same numbers on the same machine.
    {device}
    distributed
        Data-parallel training over processes (DDP; with ``n_runs > 1`` the runs are shared
        out); ``None``: when a ``torch.distributed`` process group is initialised.
    key_added
        Where results go (below).
    {copy}
    progress
        Show a progress bar with the epoch and the losses.

    Returns
    -------
    ``None``, or the modified copy when ``copy=True``. Stores:

    ``adata.obsm["X_" + key_added]``
        Representation, cells x ``n_latent``, float32.
    ``adata.uns[key_added]``
        The model: ``"params"`` (the settings above, ``n_epochs``, ``best_epoch``,
        ``stopped_early``, ``device``, ``device_data``); ``"history"`` (per epoch:
        ``train_loss``, ``val_loss``, ``ortho_penalty``, ``unit_corr_norm``, ``seconds``);
        ``"var_names"`` (the genes used, in model order); ``"weights"`` (read by
        :func:`scsaliency.get.model`); ``"format_version"``; with ``batch_key``,
        ``"batch_categories"``. With ``n_runs > 1``, ``"consensus"``: ``"units"`` (per unit:
        ``runs``, the share of runs with a program in its cluster; ``cosine``; ``n_programs``)
        and ``"params"`` (``n_runs``, ``seeds``, ``threshold``, ``min_share``,
        ``n_latent_runs``, ``n_clusters``, ``torch_threads``); ``params["n_latent"]`` is then
        the number of consensus units.
    ``adata.varm[key_added + "_programs"]``
        Additive decoder: genes x units, each unit's program (fold change over the gene's
        mean per unit of activity; NaN for genes not used), as :func:`scsaliency.get.programs`.

    Notes
    -----
    For neighbours, Leiden or UMAP use ``np.sqrt(adata.obsm["X_ortho_ae"])``: an activity's
    noise grows with it, as a count's does. ``adata.X`` and layers are never modified; cells
    without counts in the used genes are kept (all-zero input, with a warning).
    """
    settings = dict(
        n_latent=n_latent,
        n_hidden=n_hidden,
        ortho_weight=ortho_weight,
        decoder=decoder,
        program_init=program_init,
        sparsity=sparsity,
        batch_size=batch_size,
        max_epochs=max_epochs,
        patience=patience,
        tol=tol,
        validation_fraction=validation_fraction,
    )
    _check_settings(adata, **settings, program_lr=program_lr, lr=lr)
    _validate.check_key(key_added)
    _validate.check_copy(adata, copy)
    _validate.check_integers(1, n_runs=n_runs)
    n_runs = int(n_runs)
    if n_runs > 1 and decoder != "additive":
        raise ValueError(
            "n_runs > 1 builds a consensus of the runs' gene programs, which only the additive "
            "decoder has; use decoder='additive' or n_runs=1."
        )
    n_latent, n_hidden, max_epochs, patience = map(int, (n_latent, n_hidden, max_epochs, patience))
    batch_size = None if batch_size is None else int(batch_size)
    settings.update(n_latent=n_latent, max_epochs=max_epochs, patience=patience)
    settings.update(batch_size=batch_size, n_hidden=n_hidden)
    random_state = _validate.seed(random_state)
    dev = resolve_device(device)
    distributed = _check_distributed(distributed)
    batch_keys = _batches.keys_of(batch_key)
    batch_cats = _batches.categories(adata, batch_keys)
    x = _validate.get_matrix(adata, layer)
    mask = _validate.var_mask(adata, mask_var)
    used_totals, gene_totals = _validate.check_counts(
        x, what=_validate.matrix_name(layer), cols=mask
    )
    genes = _used_genes(
        mask,
        gene_totals,
        used_totals,
        n_latent=n_latent,
        n_obs=adata.n_obs,
        validation_fraction=validation_fraction,
    )
    covariates, batch_group, _ = _batches.onehot(adata, batch_cats)
    data = CellMatrix(x, genes, covariates=covariates)

    adata = adata.copy() if copy else adata
    if lr is None:
        lr = default_lr(optimizer, decoder)
    # the mlp decoder has no programs: it always learns at the encoder's rate
    decoder_lr_scale = float(program_lr) if decoder == "additive" else 1.0
    if center_input is None:
        center_input = decoder == "additive"
    fit = _Fit(
        data=data,
        n_obs=adata.n_obs,
        used_totals=used_totals,
        gene_totals=gene_totals[genes],
        batch_group=batch_group,
        n_hidden=n_hidden,
        library_size=library_size,
        decoder=decoder,
        program_init=program_init,
        center_input=center_input,
        scale_units=scale_units,
        validation_fraction=validation_fraction,
        device=dev,
        cfg=TrainConfig(
            distributed=bool(distributed),
            ortho_weight=ortho_weight,
            sparsity=float(sparsity),
            optimizer=optimizer,
            lr=lr,
            decoder_lr_scale=decoder_lr_scale,
            batch_size=batch_size,
            max_epochs=max_epochs,
            patience=patience,
            tol=float(tol),
            progress=progress,
        ),
    )
    consensus = None
    if n_runs == 1:
        module, result = fit.run(random_state, n_latent)
    else:
        module, result, consensus = _consensus_model(fit, n_latent, n_runs, random_state, progress)

    adata.obsm["X_" + key_added] = embed(module, data, device=dev)
    params = _params(
        settings,
        center_input=center_input,
        scale_units=scale_units,
        library_size=library_size,
        optimizer=optimizer,
        lr=lr,
        program_lr=decoder_lr_scale,
        random_state=random_state,
        n_runs=n_runs,
        distributed=distributed,
        device=dev,
        device_data=data.device_layout,
        layer=layer,
        batch_key=batch_keys,
    )
    if consensus is not None:
        params["n_latent"] = module.n_latent
    adata.uns[key_added] = _model_entry(module, result, params, adata.var_names[genes])
    if consensus is not None:
        adata.uns[key_added]["consensus"] = consensus
    if batch_keys:
        adata.uns[key_added]["batch_categories"] = {
            k: np.asarray(v, dtype=object) for k, v in batch_cats.items()
        }
    programs = programs_on_var(adata.uns[key_added], genes, adata.n_vars)
    if programs is not None:
        adata.varm[key_added + "_programs"] = programs
    return adata if copy else None


#: Cosine within which the programs of repeated runs count as one program (``n_runs > 1``):
#: the average cosine inside a cluster of the runs' programs. 0.65 merged the close copies of a
#: program that 0.8 kept apart, and reproduced more labels between answers with disjoint seeds
#: (:doc:`/benchmarks`).
CONSENSUS_COSINE = 0.65
#: Share of the runs that must have a program in a cluster for it to become a unit of the
#: consensus model (``n_runs > 1``); clusters below it are the seed's, not the data's.
MIN_SHARE = 0.5


@dataclass
class _Fit:
    """Everything one training run needs apart from its seed: data, start and settings."""

    data: CellMatrix
    n_obs: int
    used_totals: np.ndarray
    gene_totals: np.ndarray
    batch_group: np.ndarray | None
    n_hidden: int
    library_size: bool
    decoder: str
    program_init: str
    center_input: bool
    scale_units: bool
    validation_fraction: float
    device: torch.device
    cfg: TrainConfig

    def alone(self) -> _Fit:
        """The same fit, trained in this process on all cells (not data-parallel)."""
        return replace(self, cfg=replace(self.cfg, distributed=False))

    def run(
        self,
        seed: int,
        n_latent: int,
        programs: np.ndarray | None = None,
        progress: bool | None = None,
    ) -> tuple[OrthoAE, TrainResult]:
        """Train one network from ``seed``.

        With ``programs`` (fold changes, units x genes) the additive decoder's programs are
        fixed to them, and only the encoder, the baseline and the batch parameters are fitted.
        """
        gen = torch.Generator().manual_seed(seed)
        module = OrthoAE(
            self.data.n_vars,
            self.n_hidden,
            n_latent,
            library_size=self.library_size,
            decoder=self.decoder,
            n_batch=self.data.n_cov,
            generator=gen,
        )
        if self.data.n_cov:
            module.batch_group.copy_(torch.as_tensor(self.batch_group))
        rng = np.random.default_rng(seed)
        train_cells, val_cells = _split(self.n_obs, self.validation_fraction, rng)
        _start(
            module,
            self.data,
            train_cells,
            self.used_totals,
            self.gene_totals,
            program_init="flat" if programs is not None else self.program_init,
            center_input=self.center_input,
            rng=rng,
            batch_group=self.batch_group,
        )
        if programs is not None:
            with torch.no_grad():
                module.decoder.P.copy_(torch.as_tensor(programs, dtype=torch.float32))
            module.decoder.P.requires_grad_(False)
        module.to(self.device)
        cfg = self.cfg if progress is None else replace(self.cfg, progress=progress)
        result = train(
            module, self.data, train_cells, val_cells, cfg, device=self.device, generator=gen
        )
        module.decoder.requires_grad_(True)
        module.fold_input_center()
        if self.scale_units:
            module.scale_units()
        return module, result


def _train_runs(
    fit: _Fit, seeds: list[int], n_latent: int, progress: bool
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per seed, a run's programs (fold changes, rows of length 1), gene scale and unit scale.

    Under a ``torch.distributed`` process group each process trains every ``world``-th run on
    all cells (not data-parallel) and the results are gathered, so that every process holds
    the runs that one process would have trained, seed for seed.
    """
    world, rank = _world() if fit.cfg.distributed else (1, 0)
    local = fit.alone()
    mine = {}
    for i in tqdm(
        range(rank, len(seeds), world),
        desc="ortho_ae runs",
        unit="run",
        disable=not progress or rank != 0,
    ):
        run, _ = local.run(seeds[i], n_latent, progress=False)
        mine[i] = (
            run.decoder.P.detach().abs().cpu().double().numpy(),  # rows of length 1
            run.decoder.gene_scale.detach().cpu().double().numpy(),
            run.unit_scale.detach().cpu().double().numpy(),
        )
    if world > 1:
        import torch.distributed as dist

        gathered: list = [None] * world
        dist.all_gather_object(gathered, mine)
        mine = {i: r for part in gathered for i, r in part.items()}
    return [mine[i] for i in range(len(seeds))]


def _consensus_model(
    fit: _Fit,
    n_latent: int,
    n_runs: int,
    random_state: int,
    progress: bool,
) -> tuple[OrthoAE, TrainResult, dict]:
    """Train ``n_runs`` runs, cluster their programs, refit a model on the ones that return.

    The runs' seeds are drawn from ``random_state``; the consensus model's own encoder starts
    from ``random_state``. Under a process group the runs are shared out between processes
    (:func:`_train_runs`) and each process fits the same consensus model. Returns the refitted
    network, its training result and the stored ``"consensus"`` entry.
    """
    seeds = [int(s) for s in np.random.default_rng(random_state).integers(0, 2**31 - 1, n_runs)]
    runs = _train_runs(fit, seeds, n_latent, progress)
    folds = [fold for fold, _, _ in runs]
    lengths = [length for _, _, length in runs]
    vectors = [unit_rows(np.sqrt(fold * scale)) for fold, scale, _ in runs]
    found = cluster_programs(vectors, CONSENSUS_COSINE, MIN_SHARE)
    if not len(found.members):
        raise ValueError(
            f"No program came back in at least {MIN_SHARE:.0%} of the {n_runs} runs; the data "
            "hold no reproducible program at this n_latent. Check the input (raw counts, "
            "enough cells and genes) or train a single run (n_runs=1)."
        )
    programs, start_length = [], []
    for members in found.members:
        rows = np.stack([folds[r][u] for r, u in members])
        programs.append(median_direction(rows))
        start_length.append(np.median([lengths[r][u] for r, u in members]))
    # the programs at the length training gave them; scale_units moves it into the units
    start = np.stack(programs) * np.asarray(start_length)[:, None]
    # every process fits the same model on all cells: the answer is one process's
    module, result = fit.alone().run(random_state, len(start), programs=start, progress=progress)
    units = pd.DataFrame(
        {
            "runs": found.runs,
            "cosine": found.cosine,
            "n_programs": np.asarray([len(m) for m in found.members], dtype=np.int64),
        },
        index=[str(u) for u in range(len(start))],
    )
    entry = {
        "units": units,
        "params": {
            "n_runs": int(n_runs),
            "seeds": np.asarray(seeds, dtype=np.int64),
            "threshold": float(CONSENSUS_COSINE),
            "min_share": float(MIN_SHARE),
            "n_latent_runs": int(n_latent),
            "n_clusters": int(found.n_clusters),
            "torch_threads": int(torch.get_num_threads()),
        },
    }
    return module, result, entry


def _params(settings: dict, *, device, program_lr, **others) -> dict:
    """The stored settings: h5ad-safe types, ``batch_size=None`` as 0, the layer only if any."""
    params = {
        **settings,
        **others,
        "ortho_weight": float(settings["ortho_weight"]),
        "program_init": settings["program_init"] if settings["decoder"] == "additive" else "none",
        "program_lr": program_lr,
        "center_input": bool(others["center_input"]),
        "sparsity": float(settings["sparsity"]),
        "scale_units": bool(others["scale_units"]) and settings["decoder"] == "additive",
        "library_size": bool(others["library_size"]),
        "lr": float(others["lr"]),
        "batch_size": int(settings["batch_size"]) if settings["batch_size"] is not None else 0,
        "tol": float(settings["tol"]),
        "validation_fraction": float(settings["validation_fraction"]),
        "distributed": bool(others["distributed"]),
        "device": str(device),
    }
    if params["layer"] is None:
        del params["layer"]
    if params["batch_key"]:
        params["batch_key"] = np.asarray(params["batch_key"], dtype=object)
    else:
        del params["batch_key"]
    return params


def _check_settings(adata: AnnData, *, decoder, program_init, validation_fraction, lr, **values):
    """Every scalar setting checked before the counts are read."""
    _validate.check_adata(adata)
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}.")
    if program_init not in PROGRAM_INITS:
        raise ValueError(f"program_init must be one of {PROGRAM_INITS}, got {program_init!r}.")
    _validate.check_numbers(validation_fraction=validation_fraction)
    _validate.check_fraction("validation_fraction", validation_fraction)
    at_least_one = ("n_latent", "n_hidden", "max_epochs", "patience", "batch_size")
    _validate.check_integers(1, **{k: values[k] for k in at_least_one})
    reals = ("ortho_weight", "sparsity", "tol", "program_lr")
    _validate.check_numbers(lr=lr, **{k: values[k] for k in reals})
    _validate.check_at_least(0, **{k: values[k] for k in ("ortho_weight", "sparsity", "tol")})
    _validate.check_at_least(1e-12, program_lr=values["program_lr"], lr=lr)


def _check_distributed(distributed: bool | None) -> bool:
    """``None``: whether a process group is running; ``True`` needs one."""
    running = torch.distributed.is_available() and torch.distributed.is_initialized()
    if distributed is None:
        return running
    if distributed and not running:
        raise ValueError(
            "distributed=True needs a torch.distributed process group: run the script with "
            "torchrun (or call torch.distributed.init_process_group first), or leave "
            "distributed=None to use one when it is there."
        )
    return bool(distributed)


def _used_genes(
    mask: np.ndarray,
    gene_totals: np.ndarray,
    used_totals: np.ndarray,
    *,
    n_latent: int,
    n_obs: int,
    validation_fraction: float,
) -> np.ndarray:
    """Indices of the selected genes with counts; clear errors and warnings for the rest."""
    genes = np.flatnonzero(mask & (gene_totals > 0))
    n_zero_genes = int((mask & (gene_totals == 0)).sum())
    if n_zero_genes:
        warnings.warn(
            f"{n_zero_genes} selected genes have no counts in any cell and are left out.",
            stacklevel=3,
        )
    if n_latent > len(genes):
        raise ValueError(
            f"n_latent={n_latent} is larger than the number of usable genes ({len(genes)}); "
            "lower n_latent or select more genes."
        )
    if n_obs < 10:
        raise ValueError(f"Need at least 10 cells to train with a validation split, got {n_obs}.")
    n_val = max(1, round(validation_fraction * n_obs))
    if n_obs - n_val < 2:
        raise ValueError(
            f"validation_fraction={validation_fraction:g} holds out {n_val} of {n_obs} cells, "
            "leaving fewer than 2 to train on; lower validation_fraction."
        )
    # Genes without counts add nothing, so totals over the mask are totals over the used genes.
    n_empty = int((used_totals == 0).sum())
    if n_empty:
        warnings.warn(
            f"{n_empty} cells have no counts in the used genes; they are kept, "
            "with an all-zero input.",
            stacklevel=3,
        )
    return genes


def _split(
    n_obs: int, validation_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation cells, at random, each sorted."""
    perm = rng.permutation(n_obs)
    n_val = max(1, round(validation_fraction * n_obs))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _start(
    module: OrthoAE,
    data: CellMatrix,
    train_cells: np.ndarray,
    used_totals: np.ndarray,
    gene_totals: np.ndarray,
    *,
    program_init: str,
    center_input: bool,
    rng: np.random.Generator,
    batch_group: np.ndarray | None = None,
) -> None:
    """Start from the data: the median size, the decoder's baseline and programs, the centre.

    With batches: the programs' start and the input's centre are taken within batches, and
    each batch's rate factors start from its mean counts.
    """
    median_total = float(np.median(used_totals[train_cells])) or 1.0
    module.median_total.fill_(median_total)
    covariates = None if not data.n_cov else (data.covariates, batch_group)
    if module.decoder_kind == "additive":
        # Per-gene mean rate at size factor 1: gene total over the summed size factors.
        size_sum = used_totals.sum() / median_total if module.library_size else len(used_totals)
        mean = gene_totals / max(size_sum, 1e-12)
        module.decoder.init_from_mean(torch.as_tensor(mean, dtype=torch.float32))
        if program_init == "varimax":
            profiles = program_profiles(
                data,
                train_cells,
                module.n_latent // 2,
                median_total=median_total,
                rng=rng,
                covariates=covariates,
            )
            module.decoder.init_programs(torch.as_tensor(profiles, dtype=torch.float32))
    if center_input or covariates is not None:
        pick = sampled_cells(data, train_cells, rng)
        sample = torch.as_tensor(counts_of(data, pick))
        s = module.size_factors(sample)
        x_in = module.network_input(sample, s)
    if covariates is not None:
        # Each batch starts with its own capture factors (the log ratio of its mean normalised
        # counts to all cells'), so that no program has to learn them first.
        onehot = covariates[0][pick]
        norm = (sample / s).double().numpy()
        ratio = batch_means(norm, onehot, batch_group) + norm.mean(0)
        with torch.no_grad():
            module.batch_log.copy_(
                torch.as_tensor(np.log((ratio + 0.1) / (norm.mean(0) + 0.1)), dtype=torch.float32)
            )
    if center_input:
        batch_center = None
        if covariates is not None:
            means = batch_means(x_in.double().numpy(), onehot, batch_group)
            batch_center = torch.as_tensor(means)
        module.center_input(x_in.mean(0), batch_center)


def _model_entry(module: OrthoAE, result: TrainResult, params: dict, var_names: pd.Index) -> dict:
    """The stored model (h5ad-safe types), as :class:`scsaliency._stored.StoredModel` reads it."""
    history = pd.DataFrame(result.history)
    history.index = pd.RangeIndex(len(history), name="epoch").astype(str)
    params = {
        **params,
        "n_epochs": len(history),
        "best_epoch": result.best_epoch,
        "stopped_early": bool(result.stopped_early),
    }
    return {
        "format_version": FORMAT_VERSION,
        "params": params,
        "history": history,
        "var_names": np.asarray(var_names, dtype=object),
        "weights": module_to_uns(module),
    }
