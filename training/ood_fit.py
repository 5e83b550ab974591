"""Fit the out-of-distribution statistics of a classifier (:mod:`braintumorai.ood`).

Per modality: the head's pooled vectors of that modality alone on the training cases,
their principal components, class means and shared precision; then, on the held-out
calibration cases, each modality's 99th-percentile distance (the scale) and the 95th
percentile of the study score (the flag threshold). Stored in the model card as ``ood``.
"""

from __future__ import annotations

import numpy as np
import torch

from braintumorai.ood import modality_distances, modality_vectors

COMPONENTS = 32
SCALE_QUANTILE = 0.99
FLAG_QUANTILE = 0.95


@torch.no_grad()
def cached_vectors(model, channels, present, batch_size: int = 8) -> np.ndarray:
    """Pooled vector of every present modality of every cached case: (N, M, 2E), NaN where absent."""
    model.eval()
    out = []
    for start in range(0, len(channels), batch_size):
        x = torch.from_numpy(np.asarray(channels[start:start + batch_size], np.float32))
        p = torch.from_numpy(np.asarray(present[start:start + batch_size], bool))
        feats = model.forward_features(x, p)[4]
        out.append(modality_vectors(model, feats, p))
    return np.concatenate(out)


def fit_modality(vectors: np.ndarray, labels: np.ndarray, components: int = COMPONENTS) -> dict:
    """Gaussian model of one modality's vectors (N, D) with class labels (N,)."""
    vectors = np.asarray(vectors, np.float64)
    mean = vectors.mean(axis=0)
    centred = vectors - mean
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    basis = vt[: min(components, vt.shape[0])]
    z = centred @ basis.T
    classes = np.unique(labels)
    class_means = np.stack([z[labels == k].mean(axis=0) for k in classes])
    within = z - class_means[np.searchsorted(classes, labels)]
    covariance = within.T @ within / max(len(z) - len(classes), 1)
    ridge = 1e-6 * np.trace(covariance) / len(covariance) + 1e-9  # keeps a degenerate covariance invertible
    precision = np.linalg.inv(covariance + ridge * np.eye(len(covariance)))
    residual = centred - z @ basis
    dims = max(vectors.shape[1] - len(basis), 1)
    return {"mean": _rounded(mean), "components": _rounded(basis), "class_means": _rounded(class_means),
            "precision": _rounded(precision),
            "residual_variance": float((residual ** 2).sum(axis=1).mean() / dims), "scale": 1.0}


def _rounded(array: np.ndarray) -> list:
    """Six significant digits: the card stays small and the distances change by < 1e-4."""
    return np.vectorize(lambda v: float(f"{v:.6g}"))(np.asarray(array, np.float64)).tolist()


def fit_ood(model, train, calibration, modalities) -> dict:
    """The card's ``ood`` entry from a training and a calibration :class:`CachedSet`."""
    modalities = tuple(modalities)
    train_vectors = cached_vectors(model, train.channels, train.present)
    per_modality = {}
    for index, modality in enumerate(modalities):
        rows = train.present[:, index]
        if rows.sum() >= 2 * COMPONENTS:
            per_modality[modality] = fit_modality(train_vectors[rows, index], train.labels[rows])
    if not per_modality:  # too few training cases for a Gaussian of 32 components: no statistics
        return {}
    ood = {"per_modality": per_modality}
    calibration_vectors = cached_vectors(model, calibration.channels, calibration.present)
    raw = modality_distances(ood, modalities, calibration_vectors)
    for index, modality in enumerate(modalities):
        if modality in per_modality:
            per_modality[modality]["scale"] = float(np.nanquantile(raw[:, index], SCALE_QUANTILE))
    scores = np.nanmax(modality_distances(ood, modalities, calibration_vectors), axis=1)
    return {
        "method": "per-modality Mahalanobis distance (class means, shared covariance, "
                  f"{COMPONENTS} principal components + residual) of the head's pooled features; "
                  "study score = largest over the present modalities, each divided by its "
                  f"{SCALE_QUANTILE:.0%} quantile on the calibration split",
        "threshold": float(np.quantile(scores, FLAG_QUANTILE)),
        "flag_quantile": FLAG_QUANTILE,
        "per_modality": per_modality,
        "fitted_on": f"{len(train)} training phantoms (Gaussians), {len(calibration)} calibration phantoms "
                     "(scales and threshold)",
    }
