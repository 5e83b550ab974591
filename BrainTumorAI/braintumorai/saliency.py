"""Saliency maps of :class:`~braintumorai.models.ModalityAttentionNet`, in model space.

Every map here is a numpy ``float32`` array of shape ``(D, H, W)``: the spatial shape of
the input tensor ``(1, M, D, H, W)``, i.e. the model grid in numpy ``(z, y, x)`` order
(the order of ``SimpleITK.GetArrayFromImage``). :func:`braintumorai.model_grid.to_reference`
puts them back on the reference volume. Values are in ``[0, 1]``, finite.

- :func:`layercam`: the default, fine map: LayerCAM on the encoder's stem (6 mm cells on
  the bundled model's grid) gated by Grad-CAM on the fused map, plus one map per modality.
- :func:`gradcam`: Grad-CAM or Grad-CAM++ (``monai.visualize``) on the fused feature map
  (the encoder's coarse cells), plus one map per present modality.
- :func:`occlusion`: occlusion sensitivity (``monai.visualize.OcclusionSensitivity``),
  slower and more faithful; optionally per modality.
"""

from __future__ import annotations

import warnings
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import ModelError

__all__ = ["gradcam", "layercam", "occlusion", "LogitsOnly"]


class LogitsOnly(nn.Module):
    """Adapter for ``monai.visualize``: returns logits only, with the presence flags fixed.

    MONAI's CAM classes call ``model(x)`` and expect logits, and register hooks on the
    named target layer that are never removed. This wrapper owns its own hook target
    ``fused`` (an ``nn.Identity`` applied to the fused map exactly where the model applies
    ``fusion_output``), so the hooks live and die with the wrapper and the user's model
    is left untouched. ``present`` (``(1, M)``) is expanded to the batch size, as
    occlusion sensitivity runs several occluded copies at once. The last forward's
    :class:`~braintumorai.models.ModalityAttentionOutput` fields are kept in
    ``last_voxel_weights`` / ``last_logits``.

    The encoders and the attention run without autograd and the fused map enters the
    head as a leaf that requires grad: Grad-CAM needs the gradient at the fused map only,
    so the backward pass stops there instead of running through every encoder down to
    the input (most of Grad-CAM's cost); occlusion runs under ``no_grad`` anyway.
    """

    def __init__(self, model: nn.Module, present: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("present", present.reshape(1, -1).bool(), persistent=False)
        self.fused = nn.Identity()
        self.last_voxel_weights: Optional[torch.Tensor] = None
        self.last_logits: Optional[torch.Tensor] = None
        # MONAI restores the wrapper's mode after its pass; start from the model's own
        # mode so that restoring never flips an eval model into training.
        self.train(model.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            fused, _, voxel_weights, _, _ = self.model.forward_features(x, self.present.expand(x.shape[0], -1))
        fused = fused.detach().requires_grad_(True)
        logits = self.model.classify(self.fused(fused))
        self.last_voxel_weights, self.last_logits = voxel_weights.detach(), logits.detach()
        return logits


def _prepare(model: nn.Module, x, present) -> tuple[torch.Tensor, torch.Tensor, torch.device]:
    device = next(model.parameters()).device
    x = torch.as_tensor(x, dtype=torch.float32, device=device)
    if x.ndim == 4:
        x = x[None]
    present = torch.as_tensor(present, device=device).bool().reshape(1, -1)
    if x.ndim != 5 or x.shape[0] != 1:
        raise ModelError(f"Saliency works on one case (1, M, D, H, W) or (M, D, H, W), got {tuple(x.shape)}.")
    if present.shape[1] != x.shape[1] or x.shape[1] != len(model.modalities):
        raise ModelError(
            f"Input has {x.shape[1]} channels and {present.shape[1]} presence flags but the model expects "
            f"{len(model.modalities)} ({', '.join(model.modalities)})."
        )
    if not bool(present.any()):
        raise ModelError("No modality is marked present; give at least one modality.")
    # Absent channels are never read by the model; zero them so occlusion copies stay cheap and clean.
    x = x * present[:, :, None, None, None]
    return x, present, device


def _unit(a: np.ndarray, scale: Optional[float] = None) -> np.ndarray:
    """Non-negative, finite, divided by ``scale`` (default: its max); all zeros if flat."""
    a = np.nan_to_num(np.asarray(a, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    a = np.clip(a, 0.0, None)
    scale = float(a.max()) if scale is None else float(scale)
    return np.clip(a / scale, 0.0, 1.0).astype(np.float32) if scale > 0 else np.zeros_like(a, dtype=np.float32)


def cells_to_voxels(t: torch.Tensor, spatial: Sequence[int], stride: int) -> torch.Tensor:
    """Upsample a feature-grid map ``(N, C, d, h, w)`` to the input grid ``(N, C, D, H, W)``.

    Strided convolutions with "same" padding (kernel 3 / padding 1, kernel 7 / padding 3)
    centre feature cell ``q`` on input voxel ``stride * q``, so the map is interpolated
    with cell ``q`` placed exactly there (``align_corners=True`` onto ``stride*(d-1)+1``
    voxels) and the last few voxels are padded with the edge value. Plain
    ``align_corners=False`` resizing would put cell ``q`` at ``stride*q + (stride-1)/2``:
    3.5 voxels (10 mm on a 3 mm grid) off on every axis.
    """
    size = [stride * (n - 1) + 1 for n in t.shape[2:]]
    up = F.interpolate(t, size=size, mode="trilinear", align_corners=True)
    pad = []
    for target, have in zip(reversed(spatial), reversed(size)):
        pad += [0, int(target) - have]
    return F.pad(up, pad, mode="replicate")


def gradcam(
    model: nn.Module,
    x,
    present,
    class_index: Optional[int] = None,
    method: str = "gradcam",
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Grad-CAM / Grad-CAM++ on the fused map, and its split over the modalities.

    Args:
        model: a :class:`~braintumorai.models.ModalityAttentionNet` (put in eval mode
            for the call, restored afterwards; its parameter gradients are cleared).
        x: ``(1, M, D, H, W)`` or ``(M, D, H, W)`` tensor or array on the model grid.
        present: ``(1, M)`` or ``(M,)`` bool presence flags.
        class_index: class to explain; default the predicted one.
        method: ``"gradcam"`` or ``"gradcam++"``.

    Returns:
        ``(fused, per_modality)``: ``fused`` is the class activation map ``(D, H, W)``
        upsampled (trilinear) to the input grid and divided by its maximum;
        ``per_modality`` maps each present modality name to ``(D, H, W)``.

    Per-modality maps are the voxel attention times the Grad-CAM map,
    ``a_m(p) * cam(p)``, on the fused map's scale. Because the attention weights of the
    present modalities sum to 1 at every voxel, the per-modality maps add up exactly to
    the fused map: each shows the part of the evidence at a place that reached the
    decision through that modality, costs no extra backward pass, and an absent modality
    has no map (its weight is exactly 0). The alternative, input x gradient per
    channel, answers "which voxel values would change the score", is noisy at voxel
    level and needs smoothing with an arbitrary kernel; occlusion per modality
    (:func:`occlusion` with ``per_modality=True``) is the slower check of this split.
    """
    from monai.visualize import GradCAM, GradCAMpp

    methods = {"gradcam": GradCAM, "gradcam++": GradCAMpp}
    if method not in methods:
        raise ModelError(f"Unknown saliency method {method!r}; use 'gradcam' or 'gradcam++'.")
    x, present, _ = _prepare(model, x, present)
    wrapper = LogitsOnly(model, present)
    # Identity post-processing: MONAI's default normaliser flips the map (min -> 1).
    cam = methods[method](nn_module=wrapper, target_layers="fused", postprocessing=lambda a: a)
    if class_index is not None and not 0 <= int(class_index) < len(model.classes):
        raise ModelError(f"class_index {class_index} is out of range for {len(model.classes)} classes.")
    with torch.enable_grad():
        raw = cam.compute_map(x, class_idx=None if class_index is None else int(class_index))  # (1,1,d,h,w)
    # MONAI's backward filled parameter gradients; saliency must not leave any behind.
    model.zero_grad(set_to_none=True)
    voxel_weights = wrapper.last_voxel_weights[0]  # (M, d, h, w)
    spatial, stride = tuple(x.shape[2:]), int(model.encoder.stride)
    cam_full = cells_to_voxels(raw.detach(), spatial, stride).clamp_min(0)[0, 0]
    parts = cells_to_voxels((voxel_weights[None] * raw.detach()[0]).clamp_min(0), spatial, stride)[0]  # (M,D,H,W)
    fused = cam_full.cpu().numpy()
    scale = float(np.nan_to_num(fused).max())
    per_modality = {
        name: _unit(parts[i].cpu().numpy(), scale)
        for i, name in enumerate(model.modalities) if bool(present[0, i])
    }
    return _unit(fused, scale), per_modality


def layercam(
    model: nn.Module,
    x,
    present,
    class_index: Optional[int] = None,
    stage: int = -1,
    gated: bool = True,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Fine saliency: LayerCAM on an early encoder layer, gated by Grad-CAM on the fused map.

    Grad-CAM on the attention-fused map is class-discriminative but has the encoder's
    coarse cells (24 mm on the bundled model's grid): its peak lands at a cell centre,
    often beside a small lesion or a meningioma at the brain's edge. At an early layer one
    weight per channel (Grad-CAM) averages away where the evidence is; LayerCAM (Jiang et
    al., IEEE TIP 2021) weights every activation by its own positive gradient,
    ``l(p) = relu(sum_c relu(dy/dA_c(p)) A_c(p))``, and keeps the fine grid's detail. The
    shared encoder runs on each present modality, so each modality ``m`` has its map
    ``l_m`` (on its own volume); the fused map is ``g(p) * sum_m l_m(p)`` with ``g`` the
    fused Grad-CAM upsampled: the fine evidence, where the class-discriminative map says
    the decision came from. Both come from one backward pass through the whole network.

    Args:
        model, x, present, class_index: as in :func:`gradcam`.
        stage: ``-1`` the encoder's stem (stride 2, 6 mm cells on a 3 mm grid; the
            default), ``k >= 0`` the output of encoder stage ``k`` (compact encoder only).
        gated: multiply by the fused Grad-CAM (default); False gives LayerCAM alone.

    Returns:
        ``(fused, per_modality)``, ``(D, H, W)`` maps on the input grid in [0, 1],
        per-modality maps on the fused map's scale (they add up to it).
    """
    x, present, _ = _prepare(model, x, present)
    encoder = model.encoder
    if not hasattr(encoder, "stages"):
        raise ModelError("LayerCAM needs the compact encoder; use 'gradcam' for ResNet encoders.")
    layer = encoder.stem if stage < 0 else encoder.stages[stage]
    captured: dict = {}

    def keep(name):
        def hook(_module, _inputs, output):
            output.retain_grad()
            captured[name] = output
        return hook

    was_training = model.training
    model.eval()
    handles = [layer.register_forward_hook(keep("early")), model.fusion_output.register_forward_hook(keep("fused"))]
    try:
        with torch.enable_grad():
            output = model(x, present)
            k = int(output.logits.argmax(1)) if class_index is None else int(class_index)
            if not 0 <= k < len(model.classes):
                raise ModelError(f"class_index {class_index} is out of range for {len(model.classes)} classes.")
            output.logits[0, k].backward()
        early, fused = captured["early"], captured["fused"]
        fine = torch.relu((torch.relu(early.grad) * early).sum(1, keepdim=True)).detach()  # (P, 1, d', h', w')
        weights = fused.grad.mean(dim=(2, 3, 4), keepdim=True)
        coarse = torch.relu((weights * fused).sum(1, keepdim=True)).detach()  # (1, 1, d, h, w): Grad-CAM
    finally:
        for handle in handles:
            handle.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    strides = [encoder.stem[0].stride[0]] + [stage_[0][0].stride[0] for stage_ in encoder.stages]
    spatial = tuple(x.shape[2:])
    maps = cells_to_voxels(fine, spatial, int(np.prod(strides[: stage + 2])))[:, 0].clamp_min(0)  # (P, D, H, W)
    if gated:
        gate = cells_to_voxels(coarse, spatial, int(encoder.stride))[0, 0].clamp_min(0)
        maps = maps * (gate / gate.max().clamp_min(1e-12))
    maps = maps.cpu().numpy()
    fused_map = maps.sum(0)
    scale = float(fused_map.max())
    names = [name for i, name in enumerate(model.modalities) if bool(present[0, i])]
    return _unit(fused_map, scale), {name: _unit(m, scale) for name, m in zip(names, maps)}


def occlusion(
    model: nn.Module,
    x,
    present,
    class_index: Optional[int] = None,
    mask_size: int | tuple[int, int, int] = 16,
    overlap: float = 0.5,
    mode: str | float = "gaussian",
    n_batch: int = 16,
    per_modality: bool = False,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Occlusion sensitivity: how much the class probability drops when a cube is hidden.

    Runs ``monai.visualize.OcclusionSensitivity`` (sliding cubes of ``mask_size`` voxels
    with ``overlap``, ``mode`` as in MONAI: ``"gaussian"`` fades the cube towards 0,
    ``"mean_patch"`` / ``"mean_img"`` or a number replace it). The map is
    ``max(p(class) - p_occluded(class), 0)`` divided by its maximum. The cost is one
    forward pass per cube position (about ``prod(shape / (mask_size * (1 - overlap)))``).

    Args:
        model, x, present, class_index: as in :func:`gradcam`.
        mask_size: cube edge in voxels (int or per axis ``(D, H, W)``).
        overlap: overlap of neighbouring cubes, in ``[0, 1)``.
        mode: occlusion mode, see above.
        n_batch: occluded copies per forward pass.
        per_modality: also occlude each present modality on its own (one full run per
            modality); maps are on the scale of the all-modality map, clipped to 1.

    Returns:
        ``(fused, per_modality_maps)``, ``(D, H, W)`` arrays; the dict is empty unless
        ``per_modality`` is True.
    """
    from monai.visualize import OcclusionSensitivity

    x, present, _ = _prepare(model, x, present)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            probs = torch.softmax(LogitsOnly(model, present)(x), dim=1)[0]
        k = int(probs.argmax()) if class_index is None else int(class_index)
        if not 0 <= k < len(model.classes):
            raise ModelError(f"class_index {class_index} is out of range for {len(model.classes)} classes.")

        def run(net: nn.Module, inp: torch.Tensor) -> np.ndarray:
            occ = OcclusionSensitivity(
                nn_module=net, mask_size=mask_size, n_batch=n_batch, verbose=False, mode=mode,
                overlap=overlap, activate=lambda logits: torch.softmax(logits, dim=1),
            )
            with torch.no_grad(), warnings.catch_warnings():
                # MONAI 1.x indexes with lists inside OcclusionSensitivity; not ours to fix.
                warnings.filterwarnings("ignore", message="Using a non-tuple sequence", category=UserWarning)
                occ_map, _ = occ(inp)  # (1, K, D, H, W): class probabilities with the cube hidden
            return (probs[k] - occ_map[0, k]).cpu().numpy()

        drop = run(LogitsOnly(model, present), x)
        scale = float(np.clip(np.nan_to_num(drop), 0, None).max())
        maps: dict[str, np.ndarray] = {}
        if per_modality:
            for i, name in enumerate(model.modalities):
                if bool(present[0, i]):
                    maps[name] = _unit(run(_OneChannel(model, present, x, i), x[:, i : i + 1]), scale)
        return _unit(drop, scale), maps
    finally:
        model.train(was_training)


class _OneChannel(nn.Module):
    """Feeds one occluded modality channel into an otherwise fixed input."""

    def __init__(self, model: nn.Module, present: torch.Tensor, x: torch.Tensor, channel: int) -> None:
        super().__init__()
        self.inner = LogitsOnly(model, present)
        self.x, self.channel = x, channel

    def forward(self, xc: torch.Tensor) -> torch.Tensor:
        full = self.x.expand(xc.shape[0], -1, -1, -1, -1).clone()
        full[:, self.channel] = xc[:, 0]
        return self.inner(full)
