"""The orthogonal autoencoder network of Kinalis et al. (2019), in torch.

This module knows nothing of AnnData: it maps count tensors to a representation and to Poisson
rates. :mod:`scsaliency.tl` trains it and stores it; :func:`scsaliency.get.model` rebuilds it.
"""

from __future__ import annotations

import torch
from torch import nn

#: Constant initial bias of every layer ("small constant biases" in the paper).
BIAS_INIT = 0.01


class OrthoAE(nn.Module):
    """Autoencoder genes -> hidden -> latent -> hidden -> genes, Softplus after every layer.

    Parameters
    ----------
    n_genes
        Number of input (and output) genes.
    n_hidden
        Width of the hidden layers.
    n_latent
        Number of representation units (the encoder's last Softplus output).
    library_size
        If ``True``, the encoder sees ``log1p(counts / s)`` and the Poisson rate is the decoder
        output times ``s``, with ``s = total counts / median_total`` the cell's size factor.
        If ``False`` (paper-faithful), the encoder sees raw counts and the decoder output is the
        rate itself.
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
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.n_genes, self.n_hidden, self.n_latent = n_genes, n_hidden, n_latent
        self.library_size = library_size
        self.encoder = nn.Sequential(
            nn.Linear(n_genes, n_hidden),
            nn.Softplus(),
            nn.Linear(n_hidden, n_latent),
            nn.Softplus(),
        )
        self.decoder = nn.Sequential(
            nn.Linear(n_latent, n_hidden),
            nn.Softplus(),
            nn.Linear(n_hidden, n_genes),
            nn.Softplus(),
        )
        # Median total count of the training cells; part of the state so a stored model
        # normalises new cells exactly as it normalised its training cells.
        self.register_buffer("median_total", torch.tensor(1.0))
        for layer in self.linears:
            nn.init.xavier_uniform_(layer.weight, generator=generator)
            nn.init.constant_(layer.bias, BIAS_INIT)

    @property
    def linears(self) -> list[nn.Linear]:
        """All linear layers, encoder first."""
        return [m for m in (*self.encoder, *self.decoder) if isinstance(m, nn.Linear)]

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

    def encode(self, counts: torch.Tensor) -> torch.Tensor:
        """Representation (cells x n_latent) of a count tensor."""
        return self.encoder(self.network_input(counts, self.size_factors(counts)))

    def forward(self, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(representation, Poisson rate)`` for a count tensor."""
        s = self.size_factors(counts)
        z = self.encoder(self.network_input(counts, s))
        return z, self.decoder(z) * s

    def ortho_penalty(self) -> torch.Tensor:
        """``||I - W W^T||_F`` with ``W`` (n_latent x n_hidden) the last encoder layer's weight."""
        w = self.encoder_linears[-1].weight
        eye = torch.eye(w.shape[0], dtype=w.dtype, device=w.device)
        return torch.linalg.matrix_norm(eye - w @ w.T, ord="fro")


def poisson_nll(rate: torch.Tensor, counts: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Mean Poisson negative log-likelihood over cells and genes, without ``log k!``."""
    return (rate - counts * torch.log(rate + eps)).mean()
