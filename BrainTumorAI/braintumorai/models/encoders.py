"""3-D encoders that turn one modality volume into a feature map.

Both encoders take a single-channel volume ``(N, 1, D, H, W)`` (one modality of one
case; :class:`~braintumorai.models.modality_attention_net.ModalityAttentionNet` stacks
the present modalities of a batch along ``N``) and return a feature map
``(N, out_channels, d, h, w)``. Each exposes ``out_channels`` and ``stride`` (the total
downsampling factor, the same on every axis) so the heads built on top never guess.

- :class:`CompactEncoder`: a small conv-norm-act CNN sized for CPU training at a
  2-3 mm model grid; the bundled model uses it.
- :class:`ResNetEncoder`: MONAI's 3-D ResNet (10/18/34/50) without its pooling and
  classifier, built exactly like MedicalNet so its 1-channel weights load with
  :func:`braintumorai.models.medicalnet.load_medicalnet_weights`.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..errors import ModelError

__all__ = ["CompactEncoder", "ResNetEncoder", "build_encoder", "make_norm", "ENCODERS", "RESNET_DEPTHS"]

RESNET_DEPTHS: tuple[int, ...] = (10, 18, 34, 50)


def make_norm(norm: str, channels: int) -> nn.Module:
    """Normalisation layer by name: ``"batch"``, ``"instance"`` (affine) or ``"group"``
    (up to 8 groups)."""
    if norm == "batch":
        return nn.BatchNorm3d(channels)
    if norm == "instance":
        return nn.InstanceNorm3d(channels, affine=True)
    if norm == "group":
        groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    raise ModelError(f"Unknown normalisation {norm!r}; use 'batch', 'instance' or 'group'.")


class ConvNormAct(nn.Sequential):
    """3-D convolution (no bias, the norm has one), normalisation, LeakyReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 norm: str = "batch") -> None:
        super().__init__(
            nn.Conv3d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            make_norm(norm, out_channels),
            nn.LeakyReLU(0.01, inplace=True),
        )


class ResidualBlock(nn.Module):
    """Two 3x3x3 convolutions with an identity shortcut (same channels, stride 1)."""

    def __init__(self, channels: int, norm: str = "batch") -> None:
        super().__init__()
        self.conv1 = ConvNormAct(channels, channels, 3, norm=norm)
        self.conv2 = nn.Sequential(
            nn.Conv3d(channels, channels, 3, padding=1, bias=False), make_norm(norm, channels)
        )
        self.act = nn.LeakyReLU(0.01, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.conv2(self.conv1(x)))


class CompactEncoder(nn.Module):
    """Small 3-D CNN for one modality at a 2-3 mm grid.

    Layout: a stride-``strides[0]`` stem convolution to ``channels[0]``, then for each
    further entry of ``channels`` a stage made of a strided conv-norm-act (the
    downsampling) followed by ``blocks`` residual blocks. The default
    ``channels=(16, 32, 48, 64)``, ``strides=(2, 2, 2, 1)``, ``blocks=(0, 1, 0)``
    (264k parameters) downsamples by 8: a 64x80x64 input at 3 mm gives an 8x10x8 map of
    24 mm cells, fine enough for Grad-CAM on tumours of a few centimetres, while the
    only full-resolution work is the one-input-channel stem. The width is sized for
    CPU training: forward+backward of 8 six-modality cases takes about a second on
    2 cores.

    Args:
        in_channels: input channels (1: one modality per pass).
        channels: output channels of the stem and of each stage.
        strides: stride of the stem and of each stage's first convolution; same length
            as ``channels``.
        blocks: residual blocks per stage after its downsampling convolution; an int for
            all stages or one per stage (the stem has none).
        norm: ``"batch"`` (default, fastest on CPU), ``"instance"`` or ``"group"``.
        dropout: 3-D channel dropout on the output feature map during training.

    Shapes: ``(N, in_channels, D, H, W) -> (N, channels[-1], ceil(D/stride), ...)``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = (16, 32, 48, 64),
        strides: Sequence[int] = (2, 2, 2, 1),
        blocks: int | Sequence[int] = (0, 1, 0),
        norm: str = "batch",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        channels, strides = tuple(int(c) for c in channels), tuple(int(s) for s in strides)
        if len(channels) != len(strides) or not channels:
            raise ModelError(
                f"CompactEncoder needs one stride per channel entry, got channels={channels} and strides={strides}."
            )
        n_blocks = (blocks,) * (len(channels) - 1) if isinstance(blocks, int) else tuple(blocks)
        if len(n_blocks) != len(channels) - 1:
            raise ModelError(f"CompactEncoder needs {len(channels) - 1} block counts, got {n_blocks}.")
        self.stem = ConvNormAct(in_channels, channels[0], 3, stride=strides[0], norm=norm)
        stages = []
        for c_in, c_out, s, n in zip(channels[:-1], channels[1:], strides[1:], n_blocks):
            stages.append(nn.Sequential(
                ConvNormAct(c_in, c_out, 3, stride=s, norm=norm),
                *[ResidualBlock(c_out, norm=norm) for _ in range(n)],
            ))
        self.stages = nn.Sequential(*stages)
        self.dropout = nn.Dropout3d(dropout) if dropout > 0 else nn.Identity()
        self.out_channels = channels[-1]
        self.stride = int(torch.tensor(strides).prod())
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, a=0.01, mode="fan_out", nonlinearity="leaky_relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.stages(self.stem(x)))


class ResNetEncoder(nn.Module):
    """MONAI 3-D ResNet as a feature extractor, built the MedicalNet way.

    ``monai.networks.nets.resnet{depth}`` with ``n_input_channels=1``,
    ``feed_forward=False``, ``spatial_dims=3`` and the shortcut MedicalNet used
    (type A for depth 18/34, with ``bias_downsample=True``; type B without bias
    otherwise — :func:`monai.networks.nets.resnet.get_medicalnet_pretrained_resnet_args`).
    The forward pass stops after ``layer4`` (no pooling), so the output is the last
    feature map. ``conv1_t_stride=2`` follows MedicalNet's stem (MONAI's default is 1);
    the total stride is then 32 (16 with ``no_max_pool=True``).

    The wrapped network is ``self.net``; its state-dict keys are MedicalNet's without
    the ``module.`` prefix (``conv1.weight``, ``layer1.0.conv1.weight``, ...).

    Shapes: ``(N, 1, D, H, W) -> (N, 512 or 2048, ~D/32, ~H/32, ~W/32)``.
    """

    def __init__(self, depth: int = 18, conv1_t_stride: int = 2, no_max_pool: bool = False,
                 shortcut_type: str | None = None, bias_downsample: bool | None = None) -> None:
        super().__init__()
        from monai.networks.nets import resnet as monai_resnet

        if depth not in RESNET_DEPTHS:
            raise ModelError(f"ResNetEncoder depth must be one of {RESNET_DEPTHS}, got {depth}.")
        bias_default, shortcut_default = monai_resnet.get_medicalnet_pretrained_resnet_args(depth)
        self.depth = depth
        self.shortcut_type = shortcut_type or shortcut_default
        self.bias_downsample = bias_default if bias_downsample is None else bool(bias_downsample)
        factory = getattr(monai_resnet, f"resnet{depth}")
        self.net = factory(
            pretrained=False, spatial_dims=3, n_input_channels=1, feed_forward=False,
            shortcut_type=self.shortcut_type, bias_downsample=self.bias_downsample,
            conv1_t_size=7, conv1_t_stride=conv1_t_stride, no_max_pool=no_max_pool,
        )
        self.out_channels = 512 if depth in (10, 18, 34) else 2048
        self.stride = conv1_t_stride * (1 if no_max_pool else 2) * 8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = n.act(n.bn1(n.conv1(x)))
        if not n.no_max_pool:
            x = n.maxpool(x)
        return n.layer4(n.layer3(n.layer2(n.layer1(x))))


ENCODERS: tuple[str, ...] = ("compact",) + tuple(f"resnet{d}" for d in RESNET_DEPTHS)


def build_encoder(name: str = "compact", **kwargs) -> nn.Module:
    """Encoder by name: ``"compact"`` (:class:`CompactEncoder`) or ``"resnet10"``,
    ``"resnet18"``, ``"resnet34"``, ``"resnet50"`` (:class:`ResNetEncoder`); ``kwargs``
    go to the constructor."""
    if name == "compact":
        return CompactEncoder(**kwargs)
    if name in ENCODERS:
        return ResNetEncoder(depth=int(name[len("resnet"):]), **kwargs)
    raise ModelError(f"Unknown encoder {name!r}; use one of {', '.join(ENCODERS)}.")
