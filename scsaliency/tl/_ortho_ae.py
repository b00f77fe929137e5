"""``tl.ortho_ae``: train the orthogonal autoencoder and store its representation."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import torch
from anndata import AnnData

from .. import _input
from .._data import CellMatrix, resolve_device
from .._init import PROGRAM_INITS, program_profiles, sample_counts
from .._store import module_to_uns
from .._train import TrainConfig, default_lr, embed, train
from ..module import DECODERS, OrthoAE


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
    mask_var: str | Sequence[bool] | np.ndarray | None = None,
    optimizer: Literal["adam", "sgd"] = "adam",
    lr: float | None = None,
    batch_size: int | None = 128,
    max_epochs: int = 300,
    patience: int = 10,
    tol: float = 1e-3,
    validation_fraction: float = 0.1,
    random_state: int = 0,
    device: str | torch.device = "auto",
    distributed: bool | None = None,
    key_added: str = "ortho_ae",
    copy: bool = False,
    progress: bool = True,
) -> AnnData | None:
    """Train an orthogonal autoencoder on raw counts (Kinalis et al. 2019).

    The encoder is the paper's: genes -> ``n_hidden`` -> ``n_latent`` with a Softplus (beta 1)
    after each layer, Xavier-initialised weights and constant biases of 0.01. The
    representation is the encoder's last Softplus output (for the additive decoder times each
    unit's program length, see ``scale_units``). The loss is the Poisson negative
    log-likelihood of the counts (mean over cells and genes) plus
    ``ortho_weight * ||I - W W^T||_F``, ``W`` the last encoder layer's weight
    (``n_latent x n_hidden``), which pushes the units' weight vectors to be orthonormal.
    The decoder is additive by default (each unit adds one non-negative gene program); the
    paper's two-layer Softplus decoder is ``decoder="mlp"``.

    Parameters
    ----------
    adata
        Cells x genes with raw integer counts in ``X`` or in ``layer``; dense or sparse.
    n_latent
        Number of representation units. At most the number of used genes.
    n_hidden
        Width of the hidden layers.
    ortho_weight
        Weight of the orthogonality penalty; 0 switches it off.
    decoder
        ``"additive"`` (default): ``rate = s * (z @ programs + baseline)``, each unit's program
        a non-negative gene profile and the baseline a per-gene rate, both held relative to
        each gene's mean (Poisson NMF whose activities come from the encoder), so a unit can
        only add its own genes and cannot be cancelled by another.
        ``"mlp"``: the paper's decoder, latent -> ``n_hidden`` -> genes with Softplus.
        Chosen by ``benchmarks/modules.py`` (docs page "Measured"): on synthetic
        programs active independently in 30% of the cells, the additive decoder gives each
        program its own unit (best-unit ``|r|`` 0.74 with a gap of 0.60 to the second unit, 10 of
        10 programs) where the mlp decoder smears them (0.32, gap 0.04); on PBMC 3k with
        Hallmark and 7 marker sets, 6 of 7 marker sets were the top set of a unit (mlp: 1),
        13 distinct top sets against 2 (flat start; the varimax start: 17.7), and the set x unit
        interaction was 0.64 (varimax start: 0.56) of the impact table's variance against 0.10,
        all with guided x input saliency. With the centred-gradient saliency (the default since)
        both decoders give all 7 marker sets a unit, and the additive one still carries more
        distinct sets (23.3 against 14.7) and more interaction (0.76 against 0.31).
        KMeans NMI with the cell types was 0.740 against the mlp decoder's 0.765 until the units
        were scaled by their programs (``scale_units``): 0.761 against 0.764 (PCA(50): 0.759;
        3 seeds).
    program_init
        How the additive decoder's programs start (no effect with ``decoder="mlp"``).
        ``"varimax"`` (default): half of the units start from the positive parts of the
        data's top principal axes (``log1p(counts / s)``, genes scaled, on up to 2,000
        training cells), varimax-rotated so that each loads on a few co-varying genes, as
        NMF starts from principal axes (NNDSVD); the other half start flat. ``"flat"``: all
        programs start equal. Chosen by ``benchmarks/modules.py`` (6 seeds per synthetic
        configuration, measured at ``program_lr=1, tol=0``): best-unit ``|r|`` / gap
        0.774 / 0.575 against 0.757 / 0.559 (easy) and 0.606 / 0.437 against 0.572 / 0.429
        (hard), weak programs found more often; on PBMC 3k the same 6 of 7 marker sets and
        KMeans NMI (0.739 against 0.740). The cost:
        about 1.5x the training epochs.
    program_lr
        Learning rate of the additive decoder (programs and baseline) as a share of ``lr``;
        ignored with ``decoder="mlp"``. Below 1, programs grow more slowly than the encoder
        learns, which leaves the encoder time to give each program its own unit, at the cost of
        more epochs. Chosen by measurement (``benchmarks/modules.py``, with the centred input
        and ``lr=2e-3``): 1 (default) against 0.4 gives, on PBMC 3k over 6 seeds, all 7 marker
        sets a unit on every seed for both, more distinct sets (21.7 against 19.8) and more set x
        unit interaction (0.687 against 0.657), KMeans NMI within seed spread (0.731 against
        0.733), in 61-69 epochs against 88-125 (about 11 s of training against 17 s). On the
        synthetic configurations (6 seeds) it separates a little less: best-unit ``|r|`` / gap
        0.798 / 0.727 against 0.803 / 0.739 (easy) and 0.672 / 0.587 against 0.696 / 0.621
        (hard; NMF: 0.743 / 0.680 and 0.590 / 0.509), every program named right by both, with
        1.7 decoy-named units against 0.8 on the hard one. In earlier versions (uncentred
        input, ``lr=1e-3``) 0.4 separated clearly better (hard: 0.647 / 0.498 against
        0.577 / 0.408) and was the default.
    center_input
        Train the first encoder layer on the input minus its mean over (a sample of up to
        2,000) training cells, and fold the mean into that layer's bias afterwards, so the
        stored network takes the uncentred input and computes the same function. A
        non-negative input gives every first-layer gradient a common part, the input's mean,
        which couples the hidden units; centring removes it (LeCun et al. 1998). Chosen by
        ``benchmarks/modules.py`` (6 seeds per synthetic configuration): best-unit ``|r|`` / gap
        0.807 / 0.740 against 0.794 / 0.643 uncentred (easy) and 0.697 / 0.625 against
        0.647 / 0.498 (hard), both above NMF's (0.743 / 0.680 and 0.590 / 0.509), with every
        program named by its unit. On PBMC 3k (3 seeds) all 7 marker sets own a unit either
        way, 30.7 distinct sets top a unit against 23.3, KMeans NMI 0.736 against 0.737, and
        the set x unit interaction share falls from 0.76 to 0.62. The cost: units that carry no
        program no longer die; many follow one gene's noise, and a set holding that gene can be
        their significant top set (on the synthetic data 11.2 and 9.7 units per model named by a
        random decoy set, against 2.8 and 2.2 uncentred; with the labels' second test, added
        since in :func:`scsaliency.tl.geneset_impact`, 1.3 and 0.7 at the default ``lr``).
        ``None`` (default) centres for the additive decoder only: the paper's decoder lost by
        it on PBMC 3k (6.3 of 7 marker sets against 7, NMI 0.740 against 0.765). ``False`` is
        the paper's training.
    sparsity
        Weight of an L1 penalty on the unit activities (mean over cells and units). Off by
        default: 1e-3 sharpened the easy synthetic case (gap 0.66) but lost weak programs in
        the hard one (best-unit ``|r|`` 0.43 against 0.56 without).
    scale_units
        After training, give each unit of the additive decoder its program's length
        (:meth:`~scsaliency.module.OrthoAE.scale_units`): the program is rescaled to
        Euclidean length 1 over genes (fold changes over each gene's mean) and the unit's
        activity multiplied by the old length, which leaves the model's rates unchanged. A
        unit's activity then says how far it moves the cell's reconstructed profile, so that
        distances on the representation (``sc.pp.neighbors(use_rep=...)``, KMeans) weigh units
        by what they do to the cell rather than by how training happened to split a product
        between activity and program. Saliency maps scale with their unit; gene-set z-scores
        and the units table are unchanged. Chosen by ``benchmarks/modules.py``: on PBMC 3k
        KMeans NMI with the cell types 0.761 against 0.734 unscaled (3 seeds; 6 seeds:
        0.755 against 0.730, higher on each; PCA(50): 0.759), and the set x unit interaction
        share 0.728 against 0.672. Scaling by the largest fold change or the sum of fold
        changes instead gave NMI 0.736 and 0.741 (3 seeds). No effect with ``decoder="mlp"``.
    library_size
        Library-size-aware mode (default): the encoder sees ``log1p(counts / s)`` and the Poisson
        rate is the decoder output times ``s``, ``s`` a cell's total count over the used genes
        divided by the median total. ``False`` is the paper's mode: raw counts in, no size
        factor. Default chosen by measurement (``benchmarks/ortho_ae_pbmc3k.py``, PBMC 3k,
        2,638 cells x 3,181 Hallmark genes, 3 training seeds): with raw counts the units follow
        library size (max ``|corr(unit, total counts)|`` 0.94) and KMeans on the representation
        reaches NMI 0.46 with the cell types; library-size-aware: 0.49 and NMI 0.735 (50 PCs of
        log-normalised counts: 0.740).
    layer
        Layer holding the counts; ``None`` uses ``adata.X``.
    mask_var
        Genes the model uses: a boolean ``var`` column name or a boolean mask, as in
        :func:`scanpy.pp.pca`. Genes without any count in ``adata`` are left out as well.
    optimizer
        ``"adam"`` (default) or ``"sgd"``, stochastic gradient descent with Nesterov momentum 0.9
        as in the paper.
    lr
        Learning rate. ``None`` gives 2e-3 for Adam with the additive decoder, 1e-3 for Adam
        with the mlp decoder and 1e-2 for SGD. For the additive decoder, chosen by
        ``benchmarks/modules.py`` (6 seeds per synthetic configuration, 3 on PBMC 3k): against
        1e-3, best-unit ``|r|`` / gap 0.803 / 0.738 against 0.807 / 0.740 (easy) and
        0.696 / 0.622 against 0.697 / 0.625 (hard); on PBMC 3k the same 7 of 7 marker sets and
        KMeans NMI (0.737 against 0.736) in about 110 epochs against 190 (19.8 s of training
        against 33.1 s). 3e-3 lost on the hard configuration (0.641 / 0.563 against
        0.671 / 0.601, seeds 0-2), and without ``center_input`` 2e-3 loses too.
    batch_size
        Cells per minibatch; ``None`` trains on all training cells at once (full batch).
    max_epochs
        Upper bound on epochs.
    patience
        Stop after this many epochs without an improvement of the validation loss (10, as in
        the paper; see ``tol``); the weights of the epoch with the lowest validation loss are
        restored.
    tol
        Smallest improvement that counts for ``patience``: an epoch improves only if it lowers
        the validation loss's excess over the saturated model's (the loss of a rate equal to
        each count, which no model can beat) by more than ``tol`` of the best excess so far.
        0 counts any improvement. With 1e-3 (default) against 0, at ``program_lr=1``: PBMC 3k
        end to end 24 s against 33 s, the synthetic scores of ``benchmarks/modules.py``
        within seed spread on the easy configuration (0.773 / 0.574 against 0.774 / 0.575)
        and lower on the hard one (0.577 / 0.408 against 0.606 / 0.437).
    validation_fraction
        Share of cells held out, at random, for the validation loss.
    random_state
        Seed of the initialisation, the validation split and the minibatch order. The same seed
        gives the same numbers on the same machine.
    device
        ``"auto"`` takes CUDA when available, else the CPU; or any torch device. Data moves
        to the device a minibatch at a time.
    distributed
        Data-parallel training over processes (:class:`torch.nn.parallel.DistributedDataParallel`):
        each process trains on an equal share of the cells and gradients are averaged.
        ``None`` uses it when a ``torch.distributed`` process group is initialised (e.g. a
        script launched with ``torchrun`` that calls ``torch.distributed.init_process_group``);
        every process then ends with the same weights and representation. With several GPUs
        on one machine, call ``torch.cuda.set_device(local_rank)`` first.
    key_added
        Where results go (below).
    copy
        Return a modified copy instead of writing into ``adata``.
    progress
        Show a progress bar with the epoch and the losses.

    Returns
    -------
    ``None``, or the modified copy when ``copy=True``. Stores:

    ``adata.obsm["X_" + key_added]``
        Representation, cells x ``n_latent``, float32.
    ``adata.uns[key_added]``
        ``"params"``: the settings above plus ``n_epochs``, ``best_epoch``, ``device``,
        ``device_data`` (``"dense"`` or ``"csr"``: minibatches came from a copy of the data
        on the GPU; ``"stream"``: copied from the host a minibatch at a time);
        ``"history"``: DataFrame per epoch with ``train_loss``, ``val_loss`` (Poisson NLL plus
        penalty), ``ortho_penalty`` (``||I - W W^T||_F``), ``unit_corr_norm`` (L2 norm of
        the singular values of the units' correlation matrix on validation cells;
        ``sqrt(n_latent)`` for uncorrelated units) and ``seconds`` (wall time of the epoch);
        ``"var_names"``: genes used, in model order; ``"weights"``: the network's state as numpy
        arrays (with ``"unit_scale"``, each unit's factor), from which
        :func:`scsaliency.get.model` rebuilds it.

    Notes
    -----
    For a neighbour graph, Leiden or UMAP, use the square root of the representation
    (``adata.obsm["X_ortho_ae_sqrt"] = np.sqrt(adata.obsm["X_ortho_ae"])``, then
    ``sc.pp.neighbors(adata, use_rep="X_ortho_ae_sqrt")``): the activities' noise grows with them,
    as counts' does. On PBMC 3k it raised the Leiden clusters' NMI with the cell types from 0.693
    to 0.788 (resolution 0.5, 3 seeds; ``benchmarks/modules.py``).

    ``adata.X`` and layers are never modified. Cells with no counts in the used genes are kept:
    their input is all zeros and a warning gives their number.
    """
    _input.check_adata(adata)
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}.")
    if program_init not in PROGRAM_INITS:
        raise ValueError(f"program_init must be one of {PROGRAM_INITS}, got {program_init!r}.")
    _input.check_fraction("validation_fraction", validation_fraction)
    _input.check_at_least(1, n_latent=n_latent, n_hidden=n_hidden, max_epochs=max_epochs)
    _input.check_at_least(1, patience=patience, batch_size=batch_size)
    _input.check_at_least(0, ortho_weight=ortho_weight, sparsity=sparsity, tol=tol)
    _input.check_at_least(1e-12, program_lr=program_lr)
    if lr is not None:
        _input.check_at_least(1e-12, lr=lr)
    x = _input.get_matrix(adata, layer)
    mask = _input.var_mask(adata, mask_var)
    used_totals, gene_totals = _input.check_counts(x, what=_input.matrix_name(layer), cols=mask)
    genes = np.flatnonzero(mask & (gene_totals > 0))
    n_zero_genes = int((mask & (gene_totals == 0)).sum())
    if n_zero_genes:
        warnings.warn(
            f"{n_zero_genes} selected genes have no counts in any cell and are left out.",
            stacklevel=2,
        )
    if n_latent > len(genes):
        raise ValueError(
            f"n_latent={n_latent} is larger than the number of usable genes ({len(genes)}); "
            "lower n_latent or select more genes."
        )
    if adata.n_obs < 10:
        raise ValueError(
            f"Need at least 10 cells to train with a validation split, got {adata.n_obs}."
        )
    # Genes without counts add nothing, so totals over the mask are totals over the used genes.
    data = CellMatrix(x, genes)
    n_empty = int((used_totals == 0).sum())
    if n_empty:
        warnings.warn(
            f"{n_empty} cells have no counts in the used genes; they are kept, "
            "with an all-zero input.",
            stacklevel=2,
        )

    adata = adata.copy() if copy else adata
    dev = resolve_device(device)
    gen = torch.Generator().manual_seed(random_state)
    module = OrthoAE(
        len(genes), n_hidden, n_latent, library_size=library_size, decoder=decoder, generator=gen
    )
    rng = np.random.default_rng(random_state)
    perm = rng.permutation(adata.n_obs)
    n_val = max(1, round(validation_fraction * adata.n_obs))
    val_cells, train_cells = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    median_total = float(np.median(used_totals[train_cells])) or 1.0
    module.median_total.fill_(median_total)
    if decoder == "additive":
        # Per-gene mean rate at size factor 1: gene total over the summed size factors.
        size_sum = used_totals.sum() / median_total if library_size else adata.n_obs
        mean = gene_totals[genes] / max(size_sum, 1e-12)
        module.decoder.init_from_mean(torch.as_tensor(mean, dtype=torch.float32))
        if program_init == "varimax":
            profiles = program_profiles(
                data, train_cells, n_latent // 2, median_total=median_total, rng=rng
            )
            module.decoder.init_programs(torch.as_tensor(profiles, dtype=torch.float32))
    if center_input is None:
        center_input = decoder == "additive"
    if center_input:
        sample = torch.as_tensor(sample_counts(data, train_cells, rng))
        module.center_input(module.network_input(sample, module.size_factors(sample)).mean(0))
    module.to(dev)

    if distributed is None:
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    if lr is None:
        lr = default_lr(optimizer, decoder)
    # the mlp decoder has no programs: it always learns at the encoder's rate
    decoder_lr_scale = float(program_lr) if decoder == "additive" else 1.0
    cfg = TrainConfig(
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
    )
    result = train(module, data, train_cells, val_cells, cfg, device=dev, generator=gen)
    module.fold_input_center()
    if scale_units:
        module.scale_units()

    adata.obsm["X_" + key_added] = embed(module, data, device=dev)
    history = pd.DataFrame(result.history)
    history.index = pd.RangeIndex(len(history), name="epoch").astype(str)
    params = {
        "n_latent": n_latent,
        "n_hidden": n_hidden,
        "ortho_weight": float(ortho_weight),
        "decoder": decoder,
        "program_init": program_init if decoder == "additive" else "none",
        "program_lr": decoder_lr_scale,
        "center_input": bool(center_input),
        "sparsity": float(sparsity),
        "scale_units": bool(scale_units) and decoder == "additive",
        "library_size": bool(library_size),
        "optimizer": optimizer,
        "lr": float(lr),
        "batch_size": int(batch_size) if batch_size is not None else 0,
        "max_epochs": max_epochs,
        "patience": patience,
        "tol": float(tol),
        "validation_fraction": float(validation_fraction),
        "random_state": random_state,
        "n_epochs": len(history),
        "best_epoch": result.best_epoch,
        "stopped_early": bool(result.stopped_early),
        "distributed": bool(distributed),
        "device": str(dev),
        "device_data": data.device_layout,
    }
    if layer is not None:
        params["layer"] = layer
    adata.uns[key_added] = {
        "params": params,
        "history": history,
        "var_names": np.asarray(adata.var_names[genes], dtype=object),
        "weights": module_to_uns(module),
    }
    return adata if copy else None
