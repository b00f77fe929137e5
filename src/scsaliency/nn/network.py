"""The orthogonal autoencoder network of Kinalis et al. (2019), in torch.

This module knows nothing of AnnData: it maps count tensors to a representation and to Poisson
rates. :mod:`scsaliency.tl` trains it and stores it; :func:`scsaliency.get.model` rebuilds it.

Two decoders share the paper's encoder:

* ``"mlp"``, the paper's: latent -> hidden -> genes with Softplus after each layer. Any unit
  can reach any gene through the hidden layer, so nothing ties a unit to one gene program.
* ``"additive"``: ``rate = s * (z @ |V| + softplus(b))`` (both relative to each gene's mean,
  see :class:`AdditiveDecoder`). Each unit ``k`` adds its own non-negative gene program
  ``|V[k]|`` to a per-gene baseline, scaled by its activity ``z[k] >= 0``: Poisson
  non-negative matrix factorisation whose factor loadings come from the encoder. A program
  cannot be cancelled by another unit, so a unit that explains a set of co-varying genes
  carries that set alone.

After training, :meth:`OrthoAE.scale_units` moves each additive program's length into its
unit (``unit_scale``), so that a unit's activity says how far it moves the cell's profile.
"""

from __future__ import annotations

import torch
from torch import nn

from .tensors import Nonzero

#: Constant initial bias of every layer ("small constant biases" in the paper).
BIAS_INIT = 0.01

DECODERS = ("additive", "mlp")

#: Initial weight of all programs together, as a share of each gene's mean: programs start
#: small and flat, and the baseline starts at the mean. Larger starts (64 units x 2% of the
#: mean) overshoot the counts, and the optimiser switches every unit off for good.
PROGRAM_INIT = 0.1


#: Added to the rate inside the Poisson log-likelihood's logarithm.
EPS = 1e-8

#: softplus^-1(1): the baseline starts at each gene's mean.
_SOFTPLUS_INV_1 = 0.5413248546129181


class AdditiveDecoder(nn.Module):
    """``z @ programs + baseline``, each unit's program a non-negative gene profile.

    Programs and baseline are held relative to each gene's mean (``gene_scale``), so that all
    parameters live on the same O(1) scale whatever a gene's expression: ``programs[k, g] =
    gene_scale[g] * |P[k, g]|`` (fold changes over the mean per unit of activity) and
    ``baseline[g] = gene_scale[g] * softplus(B[g])``. With the raw scale, Adam's steps are far
    too small for lowly expressed genes and their programs never grow.

    Parameters
    ----------
    n_latent, n_genes
        Units and genes.
    """

    def __init__(self, n_latent: int, n_genes: int):
        super().__init__()
        self.P = nn.Parameter(torch.full((n_latent, n_genes), PROGRAM_INIT / n_latent))
        self.B = nn.Parameter(torch.full((n_genes,), _SOFTPLUS_INV_1))
        self.register_buffer("gene_scale", torch.ones(n_genes))

    def init_from_mean(self, gene_mean: torch.Tensor) -> None:
        """Scale programs and baseline by the genes' mean rate at size factor 1."""
        self.gene_scale.copy_(gene_mean.clamp_min(1e-4).to(self.gene_scale))

    def init_programs(self, profiles: torch.Tensor) -> None:
        """Start the first ``len(profiles)`` programs from non-negative gene profiles.

        Each profile is scaled to mean 1 over genes, so all programs together keep the flat
        start's total weight (:data:`PROGRAM_INIT`); the remaining units stay flat.
        """
        k = len(profiles)
        if k > self.P.shape[0] or profiles.shape[1] != self.P.shape[1]:
            raise ValueError(
                f"profiles must be at most {tuple(self.P.shape)}, got {tuple(profiles.shape)}."
            )
        profiles = profiles.to(self.P)
        shape = profiles / profiles.mean(dim=1, keepdim=True)
        with torch.no_grad():
            self.P[:k] = PROGRAM_INIT / self.P.shape[0] * shape

    def gene_programs(self) -> torch.Tensor:
        """Units x genes: the expected counts each unit adds per unit of activity."""
        return self.P.abs() * self.gene_scale

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Rate before the size factor, cells x genes."""
        base = nn.functional.softplus(self.B)
        return (z @ self.P.abs() + base) * self.gene_scale

    def poisson_nll(
        self,
        z: torch.Tensor,
        size_factors: torch.Tensor,
        counts: torch.Tensor,
        nonzero: Nonzero | None = None,
    ) -> torch.Tensor:
        """:func:`poisson_nll` of ``counts`` under ``size_factors * self(z)``, computed sparsely.

        The rate's sum over genes is linear in ``z`` (``s * (z @ programs.sum(1) +
        baseline.sum())``), and ``counts * log(rate)`` is zero where a count is zero, so the
        logarithm and its gradient are taken at the non-zero counts only (about a tenth of
        the entries of PBMC 3k); the value is the dense formula's up to rounding.
        ``nonzero``: where the counts are non-zero, if the caller knows (read from a CSR
        minibatch); else found here.

        Entries are picked with ``index_select``: the backward of ``tensor[indices]``
        accumulates repeated indices in parallel, in a varying order, on the CPU, so the
        same ``random_state`` gave other numbers.
        """
        programs = self.gene_programs()
        base = nn.functional.softplus(self.B) * self.gene_scale
        s = size_factors[:, 0]
        total = (s * (z @ programs.sum(1) + base.sum())).sum()
        nz = Nonzero.of(counts) if nonzero is None else nonzero
        rate = (z @ programs).reshape(-1).index_select(0, nz.flat) + base.index_select(0, nz.cols)
        rate = rate * s.index_select(0, nz.rows)
        return (total - (nz.values * torch.log(rate + EPS)).sum()) / counts.numel()


class OrthoAE(nn.Module):
    """Autoencoder genes -> hidden -> latent -> hidden -> genes, Softplus after every layer.

    Parameters
    ----------
    n_genes
        Number of input (and output) genes.
    n_hidden
        Width of the hidden layers.
    n_latent
        Number of representation units (the encoder's last Softplus output, times
        ``unit_scale``).
    library_size
        If ``True``, the encoder sees ``log1p(counts / s)`` and the Poisson rate is the decoder
        output times ``s``, with ``s = total counts / median_total`` the cell's size factor.
        If ``False`` (paper-faithful), the encoder sees raw counts and the decoder output is the
        rate itself.
    decoder
        ``"additive"`` (one non-negative gene program per unit, added to a baseline) or
        ``"mlp"`` (the paper's two-layer Softplus decoder); see the module's docstring.
    n_batch
        One-hot batch columns after the genes in every input tensor (0: none). The encoder's
        first layer gets a learned bias per batch (as if it saw the batch as an input), and the
        rate a learned factor per batch and gene (technology-specific capture, as in scVI's
        batch-conditioned decoder), so the units need not carry what differs between batches.
        ``batch_group`` says which covariate each batch column belongs to.
    generator
        Random generator for the Xavier initialisation (determinism without touching global
        state).
    """

    def __init__(
        self,
        n_genes: int,
        n_hidden: int = 128,
        n_latent: int = 64,
        *,
        library_size: bool = True,
        decoder: str = "mlp",
        n_batch: int = 0,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}.")
        self.n_genes, self.n_hidden, self.n_latent = n_genes, n_hidden, n_latent
        self.n_batch = n_batch
        self.library_size = library_size
        self.decoder_kind = decoder
        self.encoder = nn.Sequential(
            nn.Linear(n_genes, n_hidden),
            nn.Softplus(),
            nn.Linear(n_hidden, n_latent),
            nn.Softplus(),
        )
        self.decoder = (
            AdditiveDecoder(n_latent, n_genes)
            if decoder == "additive"
            else nn.Sequential(
                nn.Linear(n_latent, n_hidden),
                nn.Softplus(),
                nn.Linear(n_hidden, n_genes),
                nn.Softplus(),
            )
        )
        # Median total count of the training cells; part of the state so a stored model
        # normalises new cells exactly as it normalised its training cells.
        self.register_buffer("median_total", torch.tensor(1.0))
        # Each unit's output factor (see :meth:`scale_units`); 1 while training.
        self.register_buffer("unit_scale", torch.ones(n_latent))
        if n_batch:
            # Batch covariates (one-hot columns after the genes in the input tensor): the
            # encoder's first layer gets a bias per batch, and the rate a factor per batch and
            # gene (its logarithm in ``batch_log``; only differences between the batches of a
            # covariate are defined, the baseline holds the rest: see :meth:`batch_factors`).
            self.batch_hidden = nn.Parameter(torch.zeros(n_batch, n_hidden))
            self.batch_log = nn.Parameter(torch.zeros(n_batch, n_genes))
            self.register_buffer("batch_group", torch.zeros(n_batch, dtype=torch.long))
        # Set only while training (see :meth:`center_input`), hence not part of the state.
        self.register_buffer("input_center", None, persistent=False)
        self.register_buffer("batch_center", None, persistent=False)
        for layer in self.linears:
            nn.init.xavier_uniform_(layer.weight, generator=generator)
            nn.init.constant_(layer.bias, BIAS_INIT)

    @property
    def linears(self) -> list[nn.Linear]:
        """All linear layers, encoder first."""
        return [m for m in self.modules() if isinstance(m, nn.Linear)]

    @property
    def encoder_linears(self) -> list[nn.Linear]:
        """The encoder's linear layers, input first; each is followed by a Softplus."""
        return [m for m in self.encoder if isinstance(m, nn.Linear)]

    def size_factors(self, counts: torch.Tensor) -> torch.Tensor:
        """Per-cell size factor ``total / median_total`` (cells x 1); 1 when not library-aware.

        Cells with no counts get the smallest positive factor a single count would give, so
        their input is all zeros and their expected counts are near zero.
        """
        if not self.library_size:
            return torch.ones(counts.shape[0], 1, dtype=counts.dtype, device=counts.device)
        total = counts.sum(dim=1, keepdim=True)
        return total.clamp_min(1.0) / self.median_total

    def network_input(self, counts: torch.Tensor, size_factors: torch.Tensor) -> torch.Tensor:
        """What the encoder sees: ``log1p(counts / s)`` or raw counts."""
        return torch.log1p(counts / size_factors) if self.library_size else counts

    def center_input(self, center: torch.Tensor, batch_center: torch.Tensor | None = None) -> None:
        """Feed the first layer ``network input - center`` until :meth:`fold_input_center`.

        The same function of the input can be had with the centre folded into the first
        layer's bias, but not the same training: with a non-negative input, every gradient of
        the first layer's weights shares the input's mean, which couples the hidden units
        (LeCun et al. 1998, "Efficient BackProp"). Training on the centred input and folding
        afterwards gives the units a better-conditioned start (``benchmarks/modules.py``).
        With batches, ``batch_center`` (batches x genes) centres each batch on its own mean, so
        that the encoder starts from what varies within batches; it folds into the batches'
        biases.
        """
        if center.shape != (self.n_genes,):
            raise ValueError(
                f"center must have shape ({self.n_genes},), got {tuple(center.shape)}."
            )
        w = self.encoder_linears[0].weight
        self.input_center = center.to(dtype=w.dtype, device=w.device)
        if batch_center is not None:  # batches x genes: each batch's mean minus the mean
            self.batch_center = batch_center.to(dtype=w.dtype, device=w.device)

    @torch.no_grad()
    def fold_input_center(self) -> None:
        """Fold the centre into the first layer's bias: ``W (x - c) + b = W x + (b - W c)``.

        Afterwards the network takes the uncentred input and computes the same function, so the
        stored state and the saliency need to know nothing of the centring.
        """
        if self.input_center is None:
            return
        first = self.encoder_linears[0]
        first.bias -= first.weight @ self.input_center
        self.input_center = None
        if self.batch_center is not None:  # W (x - c_b) = W x - W c_b: into the batch's bias
            self.batch_hidden -= self.batch_center @ first.weight.T
            self.batch_center = None

    @torch.no_grad()
    def scale_units(self) -> None:
        """Give each additive unit its program's length: ``z[k] * |P[k]|``, ``P[k] / |P[k]|``.

        The additive decoder sees only the product of a unit's activity and its program
        (fold changes over each gene's mean), so how the two share the scale is arbitrary:
        training leaves a unit with a long program and small activities or the reverse. After
        this call each program has Euclidean length 1 over genes and the unit's activity is
        the length of the fold-change profile it adds to the cell, so that the distance
        between two cells along a unit is how far their reconstructed profiles differ by it
        (exactly so for programs on disjoint genes). The rates are unchanged; the factor is
        kept in ``unit_scale`` and applied to the encoder's output. Without it, Euclidean
        distances and clustering on the representation weigh units by an accident of
        training (``benchmarks/modules.py``). No effect with the mlp decoder, which has no
        programs.
        """
        if not isinstance(self.decoder, AdditiveDecoder):
            return
        length = self.decoder.P.abs().norm(dim=1)
        length = torch.where(length > 0, length, torch.ones_like(length))
        self.unit_scale.mul_(length)
        self.decoder.P.div_(length.unsqueeze(1))

    @property
    def n_inputs(self) -> int:
        """Columns of the input tensor: the genes, then the batch covariates."""
        return self.n_genes + self.n_batch

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(counts, batch one-hot)`` of an input tensor (``None`` without batches)."""
        if not self.n_batch:
            return x, None
        return x[:, : self.n_genes], x[:, self.n_genes :]

    def inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What the first layer sees: the network input of the genes and the batch's bias.

        The first layer's pre-activation is ``W1 @ input + b1 + bias``; the saliency is taken
        with respect to the genes' input at the cell's own batch.
        """
        counts, batch = self.split(x)
        x_in = self.network_input(counts, self.size_factors(counts))
        return x_in, None if batch is None else batch @ self.batch_hidden

    def batch_factors(self) -> torch.Tensor:
        """Batches x genes: each batch's natural-log factor on the rate, centred per covariate.

        The network uses ``batch_log`` as it is; a shift common to a covariate's batches is
        interchangeable with the baseline, so the factors are reported centred over the batches
        of each covariate (``batch_group``): how a batch's rate differs from the average
        batch's.
        """
        group = self.batch_group
        n_groups = int(group.max()) + 1 if len(group) else 0
        onehot = nn.functional.one_hot(group, n_groups).to(self.batch_log.dtype)  # batches x g
        mean = (onehot.T @ self.batch_log) / onehot.sum(0).clamp_min(1).unsqueeze(1)
        return self.batch_log - mean[group]

    def _units(
        self,
        counts: torch.Tensor,
        size_factors: torch.Tensor,
        batch: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The representation: the encoder's output times each unit's factor."""
        x = self.network_input(counts, size_factors)
        x = x if self.input_center is None else x - self.input_center
        if batch is not None and self.batch_center is not None:
            x = x - batch @ self.batch_center
        if batch is None:
            return self.encoder(x) * self.unit_scale
        first, act, second, out = self.encoder
        return out(second(act(first(x) + batch @ self.batch_hidden))) * self.unit_scale

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Representation (cells x n_latent) of an input tensor (counts, then batches)."""
        counts, batch = self.split(x)
        return self._units(counts, self.size_factors(counts), batch)

    def forward(
        self, counts: torch.Tensor, *, nll: bool = False, nonzero: Nonzero | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(representation, Poisson rate)`` for an input tensor (counts, then batches).

        With ``nll=True``, ``(representation, poisson_nll(rate, counts))`` instead: the
        training loss, which the additive decoder computes without the dense rate on the CPU
        (:meth:`AdditiveDecoder.poisson_nll`). A keyword of ``forward`` rather than a method of
        its own, so that it runs through :class:`~torch.nn.parallel.DistributedDataParallel`.
        On CUDA the dense formula is used: it needs no host synchronisation (the sparse form
        asks how many counts are non-zero), so the step can be replayed as a CUDA graph, and
        its backward accumulates nothing with atomics, so it is deterministic. ``nonzero``:
        where the counts are non-zero, when the minibatch came with it
        (:meth:`~scsaliency.nn.tensors.CellMatrix.count_batches`).
        """
        counts, batch = self.split(counts)
        s = self.size_factors(counts)
        z = self._units(counts, s, batch)
        rate = None
        if batch is not None:  # the batch's factor per gene (dense: it differs by cell)
            rate = self.decoder(z) * s * torch.exp(batch @ self.batch_log)
        if not nll:
            return z, self.decoder(z) * s if rate is None else rate
        if rate is None and isinstance(self.decoder, AdditiveDecoder) and not counts.is_cuda:
            return z, self.decoder.poisson_nll(z, s, counts, nonzero)
        return z, poisson_nll(self.decoder(z) * s if rate is None else rate, counts)

    def ortho_penalty(self) -> torch.Tensor:
        """``||I - W W^T||_F`` with ``W`` (n_latent x n_hidden) the last encoder layer's weight."""
        w = self.encoder_linears[-1].weight
        eye = torch.eye(w.shape[0], dtype=w.dtype, device=w.device)
        return torch.linalg.matrix_norm(eye - w @ w.T, ord="fro")


def poisson_nll(rate: torch.Tensor, counts: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Mean Poisson negative log-likelihood over cells and genes, without ``log k!``."""
    return (rate - counts * torch.log(rate + eps)).mean()
