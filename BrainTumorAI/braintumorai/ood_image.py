"""Image statistics for the out-of-distribution score: what each normalised volume looks like.

The network's pooled features (:mod:`braintumorai.ood`) describe what the network reads,
and a network trained on phantoms can read a real scan, a PET given as T1C or a volume of
noise as something familiar. So the score also asks the plain questions a radiologist
asks of a volume before reading it, on the normalised channel on the model grid, inside
the brain mask:

- the intensity histogram: the 1, 5, 25, 50, 75, 95 and 99th percentiles of the z-scores,
  and the share of voxels beyond 3 standard deviations (contrast, outliers);
- texture: the mean squared difference of neighbouring voxels (gradient energy) and the
  mean local variance in 3 x 3 x 3 windows, both as logarithms (noise, blur, texture);
- anisotropy: the log ratio of the smallest to the largest per-axis gradient energy
  (thick slices along one axis);
- the brain volume on the grid (log mL): a brain that is not a brain.

For every modality the model card holds one Gaussian of these 12 numbers over the
training phantoms (mean and precision, ``image`` in the ``ood`` entry); a volume's
Mahalanobis distance is divided by its 99th percentile on the calibration phantoms, as
the network's distances are, and the study's score is the largest of all of them.

Plain numpy and scipy; shapes are (modalities M, z D, y H, x W).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

__all__ = ["FEATURE_NAMES", "image_features", "fit_image_model", "image_distances"]

FEATURE_NAMES: tuple[str, ...] = ("p01", "p05", "p25", "p50", "p75", "p95", "p99", "beyond_3sd",
                                  "log_gradient_energy", "log_local_variance", "log_anisotropy", "log_brain_ml")
_PERCENTILES = (1, 5, 25, 50, 75, 95, 99)


def image_features(channels: np.ndarray, present: np.ndarray, brain: np.ndarray,
                   spacing_mm: Sequence[float]) -> np.ndarray:
    """The 12 statistics of each present channel.

    Args:
        channels: ``(M, D, H, W)`` normalised channels on the model grid (any float type).
        present: ``(M,)`` bool.
        brain: ``(D, H, W)`` bool brain mask on the same grid.
        spacing_mm: the grid's voxel size (x, y, z) in mm.

    Returns:
        float64 ``(M, 12)`` in the order of ``FEATURE_NAMES``; rows of absent channels NaN.
    """
    from scipy import ndimage as ndi

    brain = np.asarray(brain, bool)
    out = np.full((len(present), len(FEATURE_NAMES)), np.nan)
    brain_ml = float(brain.sum()) * float(np.prod(spacing_mm)) / 1000.0
    # Texture is measured away from the brain's edge, where the step to the zero background
    # would swamp it; a mask too small to erode is used as it is.
    interior = ndi.binary_erosion(brain, iterations=1)
    if interior.sum() < 27:
        interior = brain
    for m in np.flatnonzero(np.asarray(present, bool)):
        x = np.asarray(channels[m], np.float32)
        values = x[brain]
        if values.size < 8:
            continue
        q = np.percentile(values, _PERCENTILES)
        beyond = float(np.mean(np.abs(values) > 3.0))
        energies = []
        for axis in range(3):
            d = np.diff(x, axis=axis)
            both = np.logical_and(np.take(interior, range(d.shape[axis]), axis=axis),
                                  np.take(interior, range(1, d.shape[axis] + 1), axis=axis))
            energies.append(float(np.mean(d[both] ** 2)) if both.any() else 0.0)
        energy = float(np.mean(energies))
        mean = ndi.uniform_filter(x, 3)
        local_var = np.maximum(ndi.uniform_filter(x * x, 3) - mean * mean, 0.0)
        out[m] = [*q, beyond, np.log(energy + 1e-6), np.log(float(np.mean(local_var[interior])) + 1e-6),
                  np.log((min(energies) + 1e-6) / (max(energies) + 1e-6)), np.log(brain_ml + 1e-3)]
    return out


def fit_image_model(features: np.ndarray) -> dict:
    """One Gaussian (mean, precision) of one modality's statistics ``(N, 12)``; ``scale`` 1
    until the calibration split sets it."""
    features = np.asarray(features, np.float64)
    mean = features.mean(axis=0)
    centred = features - mean
    covariance = centred.T @ centred / max(len(features) - 1, 1)
    # A small ridge keeps a near-degenerate covariance (e.g. a constant brain volume) invertible.
    ridge = 1e-3 * np.trace(covariance) / len(covariance) + 1e-9
    precision = np.linalg.inv(covariance + ridge * np.eye(len(covariance)))
    return {"mean": [float(f"{v:.6g}") for v in mean],
            "precision": [[float(f"{v:.6g}") for v in row] for row in precision], "scale": 1.0}


def image_distances(image: Mapping, modalities: Sequence[str], features: np.ndarray) -> np.ndarray:
    """Scaled Mahalanobis distance ``(N, M)`` of each modality's statistics ``(N, M, 12)``;
    NaN where the modality is absent or the card has no model for it."""
    features = np.asarray(features, np.float64)
    out = np.full(features.shape[:2], np.nan)
    for index, modality in enumerate(modalities):
        entry = image.get("per_modality", {}).get(modality)
        rows = ~np.isnan(features[:, index, 0])
        if entry is None or not rows.any():
            continue
        diff = features[rows, index] - np.asarray(entry["mean"], np.float64)
        d = np.einsum("nf,fg,ng->n", diff, np.asarray(entry["precision"], np.float64), diff)
        out[rows, index] = d / float(entry["scale"])
    return out
