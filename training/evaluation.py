"""Evaluation of a trained classifier on cached cases: every modality subset,
calibration, conformal coverage, saliency quality and modality-weight agreement."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from braintumorai.calibration import apply_temperature, calibration_for, conformal_prediction_set

from .metrics import classification_report

MRI = ("T1", "T1C", "T2", "FLAIR")


def evaluation_subsets(modalities) -> dict[str, tuple[str, ...]]:
    """Name -> modalities: all six, each of the 15 MRI subsets, MRI only, CT only, PET only."""
    subsets = {"all": tuple(modalities)}
    for size in range(1, 5):
        for combo in itertools.combinations(MRI, size):
            subsets["+".join(combo)] = combo
    subsets["MRI only"] = MRI
    subsets["CT only"] = ("CT",)
    subsets["PET only"] = ("PET",)
    return {name: combo for name, combo in subsets.items() if set(combo) <= set(modalities)}


def all_subsets(modalities) -> list[tuple[str, ...]]:
    """Every non-empty subset of ``modalities``, each in the model's channel order."""
    return [combo for size in range(1, len(modalities) + 1) for combo in itertools.combinations(modalities, size)]


def calibrated(logits: np.ndarray, present: np.ndarray, modalities, calibration: dict):
    """Probabilities (N, K) and conformal sets (N, K) bool (``None`` without a threshold),
    each case calibrated with the card's numbers for its own modality subset."""
    probabilities = np.empty(logits.shape, np.float64)
    sets = np.zeros(logits.shape, bool)
    has_threshold = True
    for flags in np.unique(present, axis=0):
        rows = np.all(present == flags, axis=1)
        temperature, threshold = calibration_for(calibration, [m for m, p in zip(modalities, flags) if p])
        probabilities[rows] = apply_temperature(logits[rows], temperature)
        if threshold is None:
            has_threshold = False
        else:
            sets[rows] = conformal_prediction_set(probabilities[rows], threshold)
    return probabilities, sets if has_threshold else None


@torch.no_grad()
def encode(model, channels: np.ndarray, batch_size: int = 8, device: str = "cpu"):
    """Per-modality features and attention scores of every case, computed once.

    The encoder sees each modality alone, so these do not depend on which other
    modalities are present; every subset is then only attention + head.
    Returns feats (N, M, E, d, h, w) float32 and scores (N, M, d, h, w) tensors.
    """
    model.eval()
    feats_all, scores_all = [], []
    m = channels.shape[1]
    for start in range(0, len(channels), batch_size):
        x = torch.from_numpy(np.asarray(channels[start:start + batch_size], np.float32)).to(device)
        b = x.shape[0]
        flat = x.reshape(b * m, 1, *x.shape[2:])
        index = torch.arange(m, device=device).repeat(b)
        feats, scores = model.modality_features(flat, index)
        feats_all.append(feats.reshape(b, m, *feats.shape[1:]).cpu())
        scores_all.append(scores.reshape(b, m, *scores.shape[1:]).cpu())
    return torch.cat(feats_all), torch.cat(scores_all)


@torch.no_grad()
def subset_outputs(model, feats, scores, present: np.ndarray, batch_size: int = 64):
    """Logits (N, K) and modality weights (N, M) for the given presence flags (N, M)."""
    logits, weights = [], []
    for start in range(0, len(feats), batch_size):
        p = torch.from_numpy(present[start:start + batch_size])
        f = feats[start:start + batch_size] * p[:, :, None, None, None, None]
        s = scores[start:start + batch_size].masked_fill(~p[:, :, None, None, None], 0.0)
        fused, modality_weights, _ = model.attention(f, p, scores=s)
        logits.append(model.classify(fused))
        weights.append(modality_weights)
    return torch.cat(logits).numpy(), torch.cat(weights).numpy()


def presence_for(subset, modalities, base_present: np.ndarray) -> np.ndarray:
    keep = np.array([m in subset for m in modalities])
    return base_present & keep[None, :]


def evaluate_subsets(model, feats, scores, cached, modalities, classes, calibration: dict,
                     n_bootstrap: int = 1000) -> dict:
    """Classification report per modality subset, with probabilities calibrated by the
    card's ``calibration`` entry (per subset where it has one) and conformal coverage."""
    results = {}
    for name, subset in evaluation_subsets(modalities).items():
        present = presence_for(subset, modalities, cached.present)
        rows = present.any(1)  # cases that have at least one modality of the subset
        if not rows.any():
            continue
        keep = torch.from_numpy(rows)
        logits, _ = subset_outputs(model, feats[keep], scores[keep], present[rows])
        labels = cached.labels[rows]
        probabilities, sets = calibrated(logits, present[rows], modalities, calibration)
        report = classification_report(labels, probabilities, classes, n_bootstrap=n_bootstrap)
        report["cases"] = int(rows.sum())
        if sets is not None:
            report["conformal_coverage"] = float(sets[np.arange(len(sets)), labels].mean())
            report["mean_set_size"] = float(sets.sum(1).mean())
        uncalibrated = classification_report(labels, apply_temperature(logits, 1.0), classes, n_bootstrap=0)
        report["ece_before_temperature"] = uncalibrated["ece"]
        results[name] = report
    return results


def modality_weight_agreement(model, feats, scores, cached, modalities, calibration: dict) -> dict:
    """Spearman correlation, per case, between the modality weights and modality-drop
    importance (drop in the predicted class's probability when one modality is removed)."""
    from scipy.stats import spearmanr

    full_logits, weights = subset_outputs(model, feats, scores, cached.present)
    full, _ = calibrated(full_logits, cached.present, modalities, calibration)
    predicted = full.argmax(1)
    drops = np.zeros_like(weights)
    for index in range(len(modalities)):
        present = cached.present.copy()
        present[:, index] = False
        usable = present.any(1)
        present[~usable] = cached.present[~usable]
        logits, _ = subset_outputs(model, feats, scores, present)
        probabilities, _ = calibrated(logits, present, modalities, calibration)
        drops[:, index] = full[np.arange(len(full)), predicted] - probabilities[np.arange(len(full)), predicted]
    rhos = []
    for w, d, p in zip(weights, drops, cached.present):
        if p.sum() >= 3 and np.ptp(d[p]) > 0:
            rhos.append(spearmanr(w[p], d[p]).statistic)
    rhos = np.array([r for r in rhos if np.isfinite(r)])
    return {"mean_spearman": float(rhos.mean()), "median_spearman": float(np.median(rhos)), "cases": int(len(rhos)),
            "mean_weight": dict(zip(modalities, weights.mean(0).round(4).tolist())),
            "mean_drop_importance": dict(zip(modalities, drops.mean(0).round(4).tolist()))}
