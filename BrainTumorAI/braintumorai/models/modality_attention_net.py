"""ModalityAttentionNet: a tumour classifier for any non-empty subset of modalities.

Design (DESIGN.md, "Models"):

- **One shared encoder, then a projection per modality**, not per-modality encoders.
  The same encoder weights see every modality, so a pretrained 1-channel encoder
  (MedicalNet or our own reconstruction pretraining) transfers to all six at once and a
  modality that is rare in training still gets a well-trained encoder. Each modality
  then has its own 1x1x1 projection (weights and bias) into the fused feature space.
  Why: with one shared projection a bright ring on T1C and a bright region on FLAIR
  land in the same fused channels, the attention-weighted sum cannot keep "enhancing
  rim" apart from "oedema", and the network ends up leaning on one modality; with a
  projection per modality each one writes what it shows into channels of its own.
- **The encoder only runs on present modalities.** Absent channels are never read, so
  changing their voxels cannot change anything (exactly, not approximately), and a
  four-modality study costs four encoder passes, not six.
- **Attention** (:class:`~braintumorai.models.attention.ModalityAttention`): global plus
  per-voxel scores, softmax over the present modalities only.
- **Grad-CAM target and head**: the attention-fused map passes the named Grad-CAM
  target ``fusion_output`` (an ``nn.Identity``), then the head: a conv-norm-act (the
  fusion block), average- and max-pooling, dropout and a linear layer to the class
  logits. The target sits before the fusion block, not after it: the block's 3x3x3
  convolution mixes each cell with its neighbours, and with the same weights Grad-CAM
  taken after it pointed at tumour + oedema in 0.55 of 60 test phantoms, taken before
  it in 0.85.
- **Normalisation**: batch norm by default. It couples the cases of a batch only in
  training; in eval mode every case (and every modality) is computed independently.
- **Modality dropout** in training (with probability ``modality_dropout`` a case keeps
  only a random non-empty subset) so the model learns to work on every subset.
- **Per-modality logits** for training: the fusion block and head also classify each
  encoded modality on its own (a one-modality study fuses to exactly that map), so every
  modality is trained to carry the decision by itself at every step, not only in the
  rare batches where modality dropout leaves it alone. The training loss adds their
  cross-entropy (``modality_loss_weight`` in the fine-tuning config).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import torch
from torch import nn

from ..errors import ModelError
from ..modalities import MODALITIES
from .attention import ModalityAttention, drop_modalities
from .encoders import ConvNormAct, build_encoder

__all__ = ["ModalityAttentionNet", "ModalityAttentionOutput"]


@dataclass
class ModalityAttentionOutput:
    """What :meth:`ModalityAttentionNet.forward` returns.

    Attributes:
        logits: ``(B, K)`` class scores before softmax.
        modality_weights: ``(B, M)`` share of each modality in the fused map; sums to 1
            over the present modalities, exactly 0 for absent ones.
        voxel_weights: ``(B, M, d, h, w)`` attention per feature-grid cell; sums to 1
            over present modalities at every cell, exactly 0 for absent ones.
        fused: ``(B, E, d, h, w)`` attention-fused feature map (the ``fusion_output`` activation).
        present: ``(B, M)`` bool, the modalities actually used (after modality dropout
            in training; equal to the input flags in eval mode).
        modality_logits: when asked for (``forward(..., with_modality_logits=True)``),
            ``(B, M, K)`` logits of each used modality classified alone (zeros where
            ``present`` is False); ``None`` otherwise.
    """

    logits: torch.Tensor
    modality_weights: torch.Tensor
    voxel_weights: torch.Tensor
    fused: torch.Tensor
    present: torch.Tensor
    modality_logits: Optional[torch.Tensor] = None


def _jsonable(value: Any) -> Any:
    """Tuples to lists, recursively, so the constructor kwargs survive a JSON round trip."""
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


class ModalityAttentionNet(nn.Module):
    """Classifier over a fixed list of modalities, any non-empty subset present.

    Args:
        classes: class names, in logit order (never hard-coded elsewhere).
        modalities: channel order of the input (default ``T1, T1C, T2, FLAIR, CT, PET``).
        encoder: ``"compact"`` or ``"resnet10"`` / ``"resnet18"`` / ``"resnet34"`` /
            ``"resnet50"`` (see :mod:`braintumorai.models.encoders`).
        encoder_kwargs: extra constructor arguments of the encoder.
        embed_dim: channels ``E`` of the projected per-modality maps and of the fused map.
        attention_hidden: width of the attention scorers.
        modality_dropout: probability that a training case is reduced to a random
            non-empty subset of its modalities (see
            :func:`~braintumorai.models.attention.drop_modalities`).
        dropout: dropout before the linear classifier.
        pooling: ``"avgmax"`` (default: mean and max of the fusion block's output, concatenated; the
            max keeps small focal lesions from being averaged away, and in tests it gave
            Grad-CAM maps that point at the lesion far more reliably than ``"avg"``) or
            ``"avg"`` (global average only).

    ``forward(x (B, M, D, H, W) float, present (B, M) bool) -> ModalityAttentionOutput``.
    The feature grid is the input grid divided by ``encoder.stride`` (rounded up).

    ``self.config`` holds the constructor arguments as JSON-ready values; the
    checkpoint's model card stores them so :func:`braintumorai.checkpoints.load_checkpoint`
    rebuilds the same network.
    """

    architecture = "ModalityAttentionNet"

    def __init__(
        self,
        classes: Sequence[str],
        modalities: Sequence[str] = MODALITIES,
        encoder: str = "compact",
        encoder_kwargs: Optional[Mapping[str, Any]] = None,
        embed_dim: int = 64,
        attention_hidden: int = 32,
        modality_dropout: float = 0.25,
        dropout: float = 0.2,
        pooling: str = "avgmax",
    ) -> None:
        super().__init__()
        self.classes = tuple(str(c) for c in classes)
        self.modalities = tuple(str(m) for m in modalities)
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ModelError(f"A classifier needs at least two distinct class names, got {list(self.classes)}.")
        if not self.modalities or len(set(self.modalities)) != len(self.modalities):
            raise ModelError(f"Modalities must be a non-empty list without duplicates, got {list(self.modalities)}.")
        if not 0.0 <= modality_dropout < 1.0:
            raise ModelError(f"modality_dropout must be in [0, 1), got {modality_dropout}.")
        encoder_kwargs = dict(encoder_kwargs or {})
        self.config = _jsonable(dict(
            classes=self.classes, modalities=self.modalities, encoder=encoder, encoder_kwargs=encoder_kwargs,
            embed_dim=embed_dim, attention_hidden=attention_hidden, modality_dropout=modality_dropout,
            dropout=dropout, pooling=pooling,
        ))
        self.modality_dropout = float(modality_dropout)
        self.encoder_frozen = False

        self.encoder = build_encoder(encoder, **encoder_kwargs)
        # One 1x1x1 projection per modality, stored as (M, E, C) weights and (M, E) biases
        # so the present (case, modality) pairs of a batch are projected in one einsum.
        # Initialised like nn.Conv3d(C, E, 1), the bias spread wider so the modalities
        # start apart.
        channels = self.encoder.out_channels
        self.project_weight = nn.Parameter(torch.empty(len(self.modalities), embed_dim, channels))
        nn.init.uniform_(self.project_weight, -channels ** -0.5, channels ** -0.5)
        self.project_bias = nn.Parameter(torch.empty(len(self.modalities), embed_dim))
        nn.init.normal_(self.project_bias, std=0.1)
        self.feature_act = nn.LeakyReLU(0.01)
        self.attention = ModalityAttention(embed_dim, attention_hidden)
        self.fusion_output = nn.Identity()  # Grad-CAM target: the attention-fused map, hook here.
        self.fusion_block = ConvNormAct(embed_dim, embed_dim, 3)
        self.dropout = nn.Dropout(dropout)
        if pooling not in ("avg", "avgmax"):
            raise ModelError(f"Unknown pooling {pooling!r}; use 'avg' or 'avgmax'.")
        self.pooling = pooling
        self.classifier = nn.Linear(embed_dim * (1 if pooling == "avg" else 2), len(self.classes))
        # Near-uniform initial predictions (loss ~ log K): large random logits from the
        # max-pooled features slow early training and make it seed-dependent.
        nn.init.normal_(self.classifier.weight, std=0.01)
        nn.init.zeros_(self.classifier.bias)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def train(self, mode: bool = True) -> "ModalityAttentionNet":
        """As ``nn.Module.train``, but a frozen encoder stays in eval mode so its
        batch-norm statistics stay those of the pretrained weights."""
        super().train(mode)
        if self.encoder_frozen:
            self.encoder.eval()
        return self

    def _check_inputs(self, x: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        m = len(self.modalities)
        if x.ndim != 5 or x.shape[1] != m:
            raise ModelError(
                f"Expected input of shape (batch, {m}, D, H, W) for modalities {list(self.modalities)}, "
                f"got {tuple(x.shape)}."
            )
        present = torch.as_tensor(present, device=x.device).bool()
        if present.shape != x.shape[:2]:
            raise ModelError(f"Presence flags must have shape {tuple(x.shape[:2])}, got {tuple(present.shape)}.")
        if not bool(present.any(dim=1).all()):
            raise ModelError("A case has no modality marked present; give at least one modality per case.")
        return present

    def modality_features(self, volumes: torch.Tensor, modality_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode single-modality volumes ``(N, 1, D, H, W)``, the ``n``-th being modality
        ``modality_index[n]``: projected features ``(N, E, d, h, w)`` and their attention
        scores ``(N, d, h, w)``. Each depends on its own volume only."""
        feats = self.encoder(volumes)
        feats = torch.einsum("ncdhw,nec->nedhw", feats, self.project_weight[modality_index].to(feats.dtype))
        feats = self.feature_act(feats + self.project_bias[modality_index][:, :, None, None, None].to(feats.dtype))
        return feats, self.attention.scores(feats)

    def forward_features(
        self, x: torch.Tensor, present: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Everything up to the attention-fused map (before ``fusion_output``).

        Returns ``(fused (B, E, d, h, w), modality_weights (B, M),
        voxel_weights (B, M, d, h, w), present (B, M), modality_feats (B, M, E, d, h, w))``,
        the last being each modality's projected features (zeros where absent).
        """
        present = self._check_inputs(x, present)
        if self.training and self.modality_dropout > 0:
            present = drop_modalities(present, self.modality_dropout)
        b_idx, m_idx = present.nonzero(as_tuple=True)
        # Only present (case, modality) pairs are encoded: absent voxels are never read.
        feats, scores = self.modality_features(x[b_idx, m_idx].unsqueeze(1), m_idx)
        b, m = present.shape
        grid = feats.shape[2:]
        all_feats = feats.new_zeros((b, m, feats.shape[1], *grid))
        all_feats[b_idx, m_idx] = feats
        all_scores = scores.new_zeros((b, m, *grid))
        all_scores[b_idx, m_idx] = scores
        fused, modality_weights, voxel_weights = self.attention(all_feats, present, scores=all_scores)
        return fused, modality_weights, voxel_weights, present, all_feats

    def pooled_features(self, fused: torch.Tensor) -> torch.Tensor:
        """The head's pooled vector ``(B, E)`` (``"avg"``) or ``(B, 2E)`` (``"avgmax"``) from the
        attention-fused map ``(B, E, d, h, w)``: what the linear classifier reads. It is the
        study's image embedding for the prognosis model."""
        fused = self.fusion_block(fused)
        pooled = fused.mean(dim=(2, 3, 4))
        if self.pooling == "avgmax":
            pooled = torch.cat([pooled, fused.amax(dim=(2, 3, 4))], dim=1)
        return pooled

    def classify(self, fused: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K)`` from the attention-fused map ``(B, E, d, h, w)``: the head."""
        return self.classifier(self.dropout(self.pooled_features(fused)))

    def forward(self, x: torch.Tensor, present: torch.Tensor,
                with_modality_logits: bool = False) -> ModalityAttentionOutput:
        """Classify ``x (B, M, D, H, W)`` with presence flags ``present (B, M)``; with
        ``with_modality_logits`` also each used modality alone (for the training loss)."""
        fused, modality_weights, voxel_weights, present, modality_feats = self.forward_features(x, present)
        fused = self.fusion_output(fused)
        modality_logits = self.single_modality_logits(modality_feats, present) if with_modality_logits else None
        return ModalityAttentionOutput(
            logits=self.classify(fused), modality_weights=modality_weights, voxel_weights=voxel_weights,
            fused=fused, present=present, modality_logits=modality_logits,
        )

    def single_modality_logits(self, all_feats: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, M, K)`` of each present modality classified alone, from the
        per-modality features ``(B, M, E, d, h, w)`` (zeros where absent). With one
        modality present the attention gives it weight 1 everywhere, so its fused map is
        its own feature map: this is the network's answer for that modality alone."""
        b_idx, m_idx = present.nonzero(as_tuple=True)
        logits = self.classify(all_feats[b_idx, m_idx])
        out = logits.new_zeros((*present.shape, logits.shape[1]))
        out[b_idx, m_idx] = logits
        return out
