"""Modality attention: score each present modality globally and per voxel, fuse.

Absent modalities are masked out of the softmax with ``-inf``, so their weight is
exactly 0 (``exp(-inf) == 0`` in floating point), not merely small.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..errors import ModelError

__all__ = ["ModalityAttention", "masked_softmax", "drop_modalities"]


def masked_softmax(scores: torch.Tensor, present: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Softmax of ``scores`` over ``dim`` where ``present`` (broadcastable bool) is
    True; entries where it is False get weight exactly 0. Every slice along ``dim``
    must have at least one True entry."""
    return torch.softmax(scores.masked_fill(~present, float("-inf")), dim=dim)


def drop_modalities(present: torch.Tensor, p: float, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Modality dropout by subset sampling: with probability ``p`` a case keeps only a
    random non-empty subset of its present modalities, its size drawn uniformly from
    1 to the number present, then which ones uniformly.

    Dropping each modality independently would almost never leave a case with one or
    two modalities, and a model trained so fails on exactly the small subsets real
    studies often are (T1C alone, PET alone); uniform sizes show it every subset size.

    Args:
        present: ``(B, M)`` bool, at least one True per row.
        p: probability that a case is reduced to a subset, in ``[0, 1]``.
        generator: optional torch generator (on ``present``'s device) for reproducibility.

    Returns:
        ``(B, M)`` bool, a subset of ``present`` with at least one True per row.
    """
    if p <= 0:
        return present
    device = present.device
    reduce = torch.rand(present.shape[0], generator=generator, device=device) < p
    n_present = present.sum(dim=1)
    # Subset size uniform in 1..n_present: floor(u * n) + 1.
    size = (torch.rand(present.shape[0], generator=generator, device=device) * n_present).long() + 1
    # A random order of the present modalities (absent ones last), keep the first `size`.
    noise = torch.rand(present.shape, generator=generator, device=device).masked_fill(~present, 2.0)
    rank = noise.argsort(dim=1).argsort(dim=1)
    subset = present & (rank < size[:, None])
    return torch.where(reduce[:, None], subset, present)


class ModalityAttention(nn.Module):
    """Global and per-voxel attention over modality feature maps, and their fusion.

    For case ``b``, modality ``m`` and voxel ``p`` of the feature grid:
    ``score = g(mean_p f) + v(f(p))`` where ``g`` (the global scorer, an MLP on the
    pooled features) says how useful the modality is for this case as a whole and
    ``v`` (the voxel scorer, 1x1x1 convolutions) how useful it is at this place. The
    softmax over the present modalities gives the voxel weights ``a_m(p)``; the fused
    map is ``sum_m a_m(p) f_m(p)``. The modality weight reported to the user is the
    mean of ``a_m(p)`` over the grid: exactly the share of modality ``m`` in the fused
    map, so it sums to 1 over the present modalities and is 0 for the absent ones.

    Args:
        channels: feature channels ``E`` of each modality map.
        hidden: width of the two scorers.

    Shapes: ``features (B, M, E, d, h, w)``, ``present (B, M)`` bool ->
    ``fused (B, E, d, h, w)``, ``modality_weights (B, M)``, ``voxel_weights (B, M, d, h, w)``.
    """

    def __init__(self, channels: int, hidden: int = 32) -> None:
        super().__init__()
        self.global_scorer = nn.Sequential(nn.Linear(channels, hidden), nn.LeakyReLU(0.01), nn.Linear(hidden, 1))
        self.voxel_scorer = nn.Sequential(
            nn.Conv3d(channels, hidden, 1), nn.LeakyReLU(0.01), nn.Conv3d(hidden, 1, 1)
        )

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        """Unmasked attention scores ``(N, d, h, w)`` of ``N`` modality feature maps
        ``(N, E, d, h, w)``."""
        pooled = features.mean(dim=(2, 3, 4))
        return self.global_scorer(pooled)[:, :, None, None] + self.voxel_scorer(features)[:, 0]

    def forward(
        self, features: torch.Tensor, present: torch.Tensor, scores: Optional[torch.Tensor] = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fuse ``features (B, M, E, d, h, w)``; ``scores (B, M, d, h, w)`` may be
        given when already computed for the present entries (absent entries are
        ignored either way)."""
        b, m = present.shape
        if features.shape[:2] != (b, m):
            raise ModelError(f"Features of shape {tuple(features.shape)} do not match presence flags {(b, m)}.")
        if scores is None:
            scores = self.scores(features.flatten(0, 1)).view(b, m, *features.shape[3:])
        voxel_weights = masked_softmax(scores, present[:, :, None, None, None], dim=1)
        fused = (voxel_weights.unsqueeze(2) * features).sum(dim=1)
        modality_weights = voxel_weights.mean(dim=(2, 3, 4))
        return fused, modality_weights, voxel_weights
