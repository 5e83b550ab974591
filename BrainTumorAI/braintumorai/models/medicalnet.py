"""Load MedicalNet 1-channel 3-D ResNet weights into :class:`ResNetEncoder`.

MedicalNet (Chen et al. 2019, "Med3D") checkpoints are ``torch.save`` dicts with a
``"state_dict"`` entry whose keys carry the ``module.`` prefix of
``nn.DataParallel``: ``module.conv1.weight``, ``module.bn1.running_mean``,
``module.layer1.0.conv1.weight``, ``module.layer2.0.downsample.0.weight`` (shortcut
B only), ... Some files also hold the segmentation head (``module.conv_seg.*``) and
training state (``epoch``, ``optimizer``); those are ignored. The names below the
prefix are the ones of MONAI's ``ResNet``, which is what MONAI's own loader relies
on (``monai.networks.nets.resnet._load_state_dict`` strips ``module.`` and loads
strictly). Here the load is strict too, but every failure is a :class:`ModelError`
that says what to change, and nothing is ever downloaded.
"""

from __future__ import annotations

import os
from typing import Mapping, Union

import torch
from torch import nn

from ..errors import ModelError
from .encoders import ResNetEncoder

__all__ = ["load_medicalnet_weights", "medicalnet_state_dict"]

# Heads of MedicalNet and MONAI that a feature encoder does not have.
_IGNORED_PREFIXES = ("conv_seg.", "fc.")


def medicalnet_state_dict(checkpoint: Union[str, os.PathLike, Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The backbone weights of a MedicalNet checkpoint (file path or loaded dict),
    with ``module.`` stripped and the head keys dropped. Files are read with
    ``torch.load(weights_only=True)``."""
    if isinstance(checkpoint, (str, os.PathLike)):
        if not os.path.isfile(checkpoint):
            raise ModelError(f"MedicalNet checkpoint {os.fspath(checkpoint)!r} does not exist; check the path.")
        try:
            checkpoint = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception as exc:  # corrupt file, or pickled objects other than tensors
            raise ModelError(
                f"Cannot read MedicalNet checkpoint {os.fspath(checkpoint)!r} as plain weights ({exc}); "
                "use an original MedicalNet .pth file."
            ) from exc
    if not isinstance(checkpoint, Mapping):
        raise ModelError("A MedicalNet checkpoint must be a dict of tensors or a dict with a 'state_dict' entry.")
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(
            "The checkpoint's 'state_dict' is not a mapping of names to tensors; it is not MedicalNet format."
        )
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        key = key[len("module."):] if key.startswith("module.") else key
        if not key.startswith(_IGNORED_PREFIXES):
            out[key] = value
    return out


def _shortcut_of(keys) -> str:
    """'B' when the checkpoint has 1x1 convolution shortcuts, else 'A' (parameter-free)."""
    return "B" if any(".downsample.0.weight" in k for k in keys) else "A"


def _blocks_per_layer(keys) -> tuple[int, ...]:
    counts = []
    for layer in range(1, 5):
        idx = {int(k.split(".")[1]) for k in keys if k.startswith(f"layer{layer}.") and k.split(".")[1].isdigit()}
        counts.append(max(idx) + 1 if idx else 0)
    return tuple(counts)


def load_medicalnet_weights(
    encoder: nn.Module, checkpoint: Union[str, os.PathLike, Mapping[str, torch.Tensor]]
) -> nn.Module:
    """Copy MedicalNet 1-channel ResNet weights into a ResNet encoder.

    Args:
        encoder: a :class:`ResNetEncoder`, a model holding one as ``.encoder``
            (e.g. ``ModalityAttentionNet(encoder="resnet18")``) or a bare MONAI ``ResNet``.
        checkpoint: path of a MedicalNet ``.pth`` file, or the dict loaded from one.

    Returns:
        The encoder, loaded in place.

    Raises:
        ModelError: unreadable file, shortcut type or depth that differs from the
            encoder's, a multi-channel first convolution, or any missing, unexpected or
            wrongly shaped weight (the message lists them).
    """
    target = getattr(encoder, "encoder", encoder)
    net = target.net if isinstance(target, ResNetEncoder) else target
    state = medicalnet_state_dict(checkpoint)
    own = net.state_dict()

    ckpt_shortcut, own_shortcut = _shortcut_of(state), _shortcut_of(own)
    if _blocks_per_layer(state) != _blocks_per_layer(own):
        raise ModelError(
            f"The checkpoint's ResNet has {_blocks_per_layer(state)} blocks per layer but the encoder has "
            f"{_blocks_per_layer(own)}; build the encoder with the checkpoint's depth."
        )
    if ckpt_shortcut != own_shortcut:
        raise ModelError(
            f"The checkpoint uses shortcut type {ckpt_shortcut} but the encoder uses {own_shortcut}; build "
            f"ResNetEncoder(shortcut_type={ckpt_shortcut!r}) (MedicalNet: A for depth 18/34, B otherwise)."
        )
    if ckpt_shortcut == "B":
        ckpt_bias = any(k.endswith(".downsample.0.bias") for k in state)
        own_bias = any(k.endswith(".downsample.0.bias") for k in own)
        if ckpt_bias != own_bias:
            raise ModelError(
                f"The checkpoint's shortcut convolutions {'have' if ckpt_bias else 'have no'} bias but the "
                f"encoder's {'have' if own_bias else 'have none'}; build ResNetEncoder(bias_downsample={ckpt_bias})."
            )
    conv1 = state.get("conv1.weight")
    if conv1 is not None and conv1.ndim == 5 and conv1.shape[1] != 1:
        raise ModelError(
            f"The checkpoint's first convolution takes {conv1.shape[1]} channels; BrainTumorAI encodes one "
            "modality at a time and needs 1-channel MedicalNet weights."
        )
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} ({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})")
        if unexpected:
            parts.append(
                f"unexpected {len(unexpected)} ({', '.join(unexpected[:5])}{', ...' if len(unexpected) > 5 else ''})"
            )
        raise ModelError(
            f"The checkpoint does not match the ResNet encoder: {'; '.join(parts)} weights; "
            "check the depth and that it is a MedicalNet ResNet file."
        )
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items() if state[k].shape != v.shape]
    if wrong:
        raise ModelError(
            f"{len(wrong)} checkpoint weights have the wrong shape ({'; '.join(wrong[:3])}); "
            "check the depth and width of the encoder."
        )
    net.load_state_dict(state, strict=True)
    return target
