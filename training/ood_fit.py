"""Fit the out-of-distribution statistics of a classifier (:mod:`braintumorai.ood`).

Per modality: the head's pooled vectors of that modality alone on the training cases,
their principal components, class means and shared precision; then, on the held-out
calibration cases, each modality's 99th-percentile distance (the scale) and the 95th
percentile of the study score (the flag threshold). With the grid's spacing, the same for
each volume's own image statistics (:mod:`braintumorai.ood_image`, one Gaussian per
modality). Stored in the model card as ``ood``.

The flag threshold is the 97th percentile of the calibration scores: the promise is that
at most 5 % of studies like the training data are flagged, and a 95th percentile of a few
hundred calibration cases overshoots that about half the time.
"""

from __future__ import annotations

import numpy as np
import torch

from braintumorai.ood import modality_distances, modality_vectors, study_distances
from braintumorai.ood_image import FEATURE_NAMES, fit_image_model, image_distances, image_features

COMPONENTS = 32
SCALE_QUANTILE = 0.99
FLAG_QUANTILE = 0.97


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


def cached_image_features(cached, spacing_mm) -> np.ndarray:
    """Image statistics (N, M, 12) of every cached case (NaN where a modality is absent)."""
    return np.stack([image_features(cached.channels[i], cached.present[i], cached.brain[i], spacing_mm)
                     for i in range(len(cached))])


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


def fit_ood(model, train, calibration, modalities, spacing_mm=None) -> dict:
    """The card's ``ood`` entry from a training and a calibration :class:`CachedSet`;
    with the model grid's ``spacing_mm`` (x, y, z), image statistics too."""
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
    calibration_features = None
    if spacing_mm is not None:
        train_features = cached_image_features(train, spacing_mm)
        image = {"features": list(FEATURE_NAMES), "per_modality": {}}
        for index, modality in enumerate(modalities):
            rows = train.present[:, index]
            if rows.sum() >= 4 * len(FEATURE_NAMES):
                image["per_modality"][modality] = fit_image_model(train_features[rows, index])
        calibration_features = cached_image_features(calibration, spacing_mm)
        raw_image = image_distances(image, modalities, calibration_features)
        for index, modality in enumerate(modalities):
            if modality in image["per_modality"]:
                image["per_modality"][modality]["scale"] = float(np.nanquantile(raw_image[:, index], SCALE_QUANTILE))
        ood["image"] = image
    scores = np.nanmax(study_distances(ood, modalities, calibration_vectors, calibration_features), axis=1)
    return {
        "method": "per-modality Mahalanobis distance (class means, shared covariance, "
                  f"{COMPONENTS} principal components + residual) of the head's pooled features; "
                  "study score = largest over the present modalities, each divided by its "
                  f"{SCALE_QUANTILE:.0%} quantile on the calibration split",
        "threshold": float(np.quantile(scores, FLAG_QUANTILE)),
        "flag_quantile": FLAG_QUANTILE,
        "per_modality": per_modality,
        **({"image": ood["image"], "image_method": "per-modality Mahalanobis distance of the normalised volume's "
            "own statistics (7 percentiles, share beyond 3 SD, log gradient energy, log local variance, log "
            "anisotropy, log brain volume), scaled the same way; the study score takes the largest of both"}
           if "image" in ood else {}),
        "fitted_on": f"{len(train)} training phantoms (Gaussians), {len(calibration)} calibration phantoms "
                     "(scales and threshold)",
    }
