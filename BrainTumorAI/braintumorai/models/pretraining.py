"""Self-supervised pretraining of an encoder and the freeze-then-unfreeze schedule.

Proxy task: **masked-patch denoising reconstruction** (in the spirit of Models Genesis
and masked autoencoders). Cubes of the volume are blanked out and noise is added; the
encoder plus a light decoder must restore the original intensities. To fill a blanked
cube the encoder has to learn the anatomy and contrast around it, which is what the
classifier needs, and no label is used, so every unlabelled phantom (or real) volume of
any modality is training data.

Fine-tuning schedule: :func:`freeze_encoder` for the first epochs (only attention and
head learn, on top of the pretrained features), then :func:`unfreeze_encoder` (usually
optionally with its own learning rate for the encoder). An optimizer built over all parameters
works across the switch: parameters without gradients are skipped by torch optimizers.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Mapping, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError
from .encoders import ConvNormAct

__all__ = [
    "ReconstructionPretrainer", "PretrainOutput", "freeze_encoder", "unfreeze_encoder", "load_encoder_weights",
]


@dataclass
class PretrainOutput:
    """loss: scalar; reconstruction: ``(N, 1, D, H, W)``; mask: ``(N, 1, D, H, W)`` bool,
    True where the input was blanked; corrupted: the encoder's input."""

    loss: torch.Tensor
    reconstruction: torch.Tensor
    mask: torch.Tensor
    corrupted: torch.Tensor


class ReconstructionPretrainer(nn.Module):
    """Encoder + light decoder trained to restore masked, noisy single-modality volumes.

    The decoder upsamples by 2 per stage (``log2(encoder.stride)`` stages), halving the
    channels from ``decoder_channels`` down to 8, and predicts the volume with a 1x1x1
    convolution at half resolution followed by trilinear upsampling (the two commute),
    so it costs a small fraction of the encoder and the encoder does the work.

    Args:
        encoder: any encoder with ``out_channels`` and ``stride`` (e.g. ``model.encoder``
            of a :class:`ModalityAttentionNet`, which is then trained in place).
        mask_ratio: fraction of ``patch_size`` cubes blanked (set to 0).
        patch_size: edge of the blanked cubes in voxels.
        noise_std: std of the Gaussian noise added everywhere (input is z-scored).
        unmasked_weight: loss weight of the visible voxels relative to the blanked ones.
        decoder_channels: decoder width at the encoder's resolution.

    ``forward(x (N, 1, D, H, W)) -> PretrainOutput``; the loss is a weighted MSE
    between reconstruction and the clean ``x``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        mask_ratio: float = 0.5,
        patch_size: int = 8,
        noise_std: float = 0.1,
        unmasked_weight: float = 0.1,
        decoder_channels: int = 32,
    ) -> None:
        super().__init__()
        if not 0.0 < mask_ratio < 1.0:
            raise ModelError(f"mask_ratio must be in (0, 1), got {mask_ratio}.")
        self.encoder = encoder
        self.mask_ratio, self.patch_size = float(mask_ratio), int(patch_size)
        self.noise_std, self.unmasked_weight = float(noise_std), float(unmasked_weight)
        stages = max(int(round(math.log2(encoder.stride))), 1)
        widths = [max(decoder_channels >> i, 8) for i in range(stages)]
        layers: list[nn.Module] = [ConvNormAct(encoder.out_channels, widths[0], 1)]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False), ConvNormAct(c_in, c_out, 3)]
        layers.append(nn.Conv3d(widths[-1], 1, 1))
        self.decoder = nn.Sequential(*layers)

    def corrupt(
        self, x: torch.Tensor, generator: Optional[torch.Generator] = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Blank random cubes and add noise. Returns ``(corrupted, mask)``, both
        ``(N, 1, D, H, W)``; ``mask`` is True where blanked."""
        n, _, *spatial = x.shape
        coarse = [math.ceil(s / self.patch_size) for s in spatial]
        cubes = torch.rand((n, 1, *coarse), generator=generator, device=x.device) < self.mask_ratio
        mask = cubes.repeat_interleave(self.patch_size, 2).repeat_interleave(self.patch_size, 3)
        mask = mask.repeat_interleave(self.patch_size, 4)[:, :, : spatial[0], : spatial[1], : spatial[2]]
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) * self.noise_std
        return x.masked_fill(mask, 0.0) + noise, mask

    def forward(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> PretrainOutput:
        if x.ndim != 5 or x.shape[1] != 1:
            raise ModelError(f"Pretraining expects single-modality volumes (N, 1, D, H, W), got {tuple(x.shape)}.")
        corrupted, mask = self.corrupt(x, generator)
        recon = self.decoder(self.encoder(corrupted))
        # Upsample from half resolution (or whatever the decoder reached) to the input grid.
        recon = F.interpolate(recon, size=x.shape[2:], mode="trilinear", align_corners=False)
        weight = torch.where(mask, 1.0, self.unmasked_weight)
        loss = (weight * (recon - x) ** 2).sum() / weight.sum()
        return PretrainOutput(loss=loss, reconstruction=recon, mask=mask, corrupted=corrupted)


def _encoder_of(model: nn.Module) -> nn.Module:
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, nn.Module):
        raise ModelError(f"{type(model).__name__} has no 'encoder' submodule to freeze or load.")
    return encoder


def freeze_encoder(model: nn.Module) -> int:
    """Stop training ``model.encoder``: no gradients, batch-norm statistics kept (the
    encoder stays in eval mode, also across ``model.train()`` for a
    :class:`ModalityAttentionNet`). Returns the number of frozen parameters."""
    encoder = _encoder_of(model)
    for p in encoder.parameters():
        p.requires_grad_(False)
    model.encoder_frozen = True
    encoder.eval()
    return sum(p.numel() for p in encoder.parameters())


def unfreeze_encoder(model: nn.Module) -> int:
    """Undo :func:`freeze_encoder`; the encoder follows ``model``'s train/eval mode
    again. Returns the number of trainable encoder parameters."""
    encoder = _encoder_of(model)
    for p in encoder.parameters():
        p.requires_grad_(True)
    model.encoder_frozen = False
    encoder.train(model.training)
    return sum(p.numel() for p in encoder.parameters())


def load_encoder_weights(
    model: nn.Module, source: Union[str, os.PathLike, Mapping[str, torch.Tensor]]
) -> nn.Module:
    """Load pretrained encoder weights (e.g. ``pretrainer.encoder.state_dict()`` saved
    with ``torch.save``) into ``model.encoder`` (or into ``model`` if it is the encoder).

    ``source`` is a path (read with ``torch.load(weights_only=True)``) or a state dict;
    ``module.`` and ``encoder.`` prefixes are stripped and decoder keys of a saved
    :class:`ReconstructionPretrainer` are ignored. A missing, unexpected or wrongly
    shaped weight is a :class:`ModelError`."""
    encoder = getattr(model, "encoder", model)
    if isinstance(source, (str, os.PathLike)):
        try:
            source = torch.load(source, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ModelError(f"Cannot read encoder weights from {os.fspath(source)!r} ({exc}).") from exc
    if not isinstance(source, Mapping):
        raise ModelError("Encoder weights must be a state dict (a mapping of names to tensors).")
    state = {}
    for key, value in source.get("state_dict", source).items():
        for prefix in ("module.", "encoder."):
            key = key[len(prefix):] if key.startswith(prefix) else key
        if not key.startswith("decoder."):
            state[key] = value
    own = encoder.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        raise ModelError(
            f"Encoder weights do not fit this encoder (missing {missing[:3]}, unexpected {unexpected[:3]}, "
            f"wrong shape {wrong[:3]}); pretrain with the same encoder settings."
        )
    encoder.load_state_dict(state, strict=True)
    return model
