"""Out-of-distribution score: how unlike the training data a study looks to the network.

Each present modality is classified alone by the network's head at every training step
(the per-modality loss), so the head's pooled vector of one modality's features —
:meth:`ModalityAttentionNet.pooled_features` of that modality's map, ``(2E,)`` — is a
description of that volume the network has learned to read. For every modality the
model card stores a Gaussian model of these vectors on the training data (Lee et al.,
NeurIPS 2018: class means with one shared covariance), in the top principal components
plus the energy left outside them:

    d_m = min_k (z - mu_k)^T P (z - mu_k) + |r|^2 / v_res

(``z`` the vector's principal coordinates, ``mu_k`` the class means, ``P`` the shared
precision, ``r`` the residual outside the components, ``v_res`` its mean per-dimension
variance on the training data). Each ``d_m`` is divided by its 99th percentile on the
held-out calibration phantoms, and the study's score is the largest over its present
modalities: 1 means "as unusual as the 1 % most unusual in-distribution volumes of that
modality". The study is flagged when the score exceeds the card's threshold (the 95th
percentile of the score over the calibration phantoms, so about 5 % of studies like the
training data are flagged).

A wrong modality assigned, a swapped T1/T2, heavy noise or a volume that is not a brain
give vectors the head has never seen for that modality and a high score; so, measured,
may a real scan whose contrast or resolution the phantoms never had.

Plain numpy; the vectors come from the network (see :func:`modality_vectors`).
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

from .errors import ModelError

__all__ = ["modality_vectors", "modality_distances", "ood_score", "OOD_WARNING", "ood_warning",
           "widened_prediction_set"]

OOD_WARNING = ("This study looks unusual to the model (out-of-distribution score {score:.2f}, above the threshold "
               "{threshold:.2f}{false_alarms}); check the modality assignment and image quality, and read the "
               "probabilities with caution: {set_sentence}")


def ood_warning(score: float, threshold: float, coverage: float, before: Sequence[str], after: Sequence[str],
                flag_quantile: Optional[float] = None) -> str:
    """The warning of a flagged study, true to what happened to its prediction set.

    ``before``/``after``: the prediction set's classes before and after widening (see
    :func:`widened_prediction_set`). ``flag_quantile``: the card's share of calibration
    studies below the threshold (0.95: about 1 in 20 studies like the training data are
    flagged too, so the sentence says so rather than calling every flagged study unlike
    the training data)."""
    added = [c for c in after if c not in set(before)]
    if added:
        set_sentence = (f"the prediction set was widened to the classes that together hold {coverage:.0%} of the "
                        f"probability ({', '.join(after)}).")
    else:
        set_sentence = (f"the prediction set stays {', '.join(after)}: "
                        f"{'that class alone holds' if len(after) == 1 else 'those classes already hold'} "
                        f"{coverage:.0%} of the probability or more.")
    false_alarms = ""
    if flag_quantile is not None and 0.0 < float(flag_quantile) < 1.0:
        false_alarms = (f"; about 1 in {round(1.0 / (1.0 - float(flag_quantile))):d} studies like the training data "
                        "score this high too")
    return OOD_WARNING.format(score=score, threshold=threshold, false_alarms=false_alarms, set_sentence=set_sentence)


def modality_vectors(model, modality_feats, present) -> np.ndarray:
    """The head's pooled vector of each present modality alone.

    Args:
        model: a ``ModalityAttentionNet``.
        modality_feats: ``(B, M, E, d, h, w)`` tensor, each modality's projected features
            (``forward_features(...)[4]``).
        present: ``(B, M)`` bool tensor.

    Returns:
        float32 ``(B, M, 2E)`` array; rows of absent modalities are NaN.
    """
    import torch

    b_idx, m_idx = present.nonzero(as_tuple=True)
    with torch.no_grad():
        pooled = model.pooled_features(modality_feats[b_idx, m_idx]).float().cpu().numpy()
    out = np.full((*present.shape, pooled.shape[1]), np.nan, np.float32)
    out[b_idx.cpu().numpy(), m_idx.cpu().numpy()] = pooled
    return out


def _distance(entry: Mapping, vectors: np.ndarray) -> np.ndarray:
    """Raw Mahalanobis + residual distance (N,) of vectors (N, D) under one modality's model."""
    mean = np.asarray(entry["mean"], np.float64)
    components = np.asarray(entry["components"], np.float64)     # (C, D)
    centred = np.asarray(vectors, np.float64) - mean
    z = centred @ components.T                                     # (N, C)
    residual = centred - z @ components
    class_means = np.asarray(entry["class_means"], np.float64)     # (K, C)
    precision = np.asarray(entry["precision"], np.float64)         # (C, C)
    diff = z[:, None, :] - class_means[None, :, :]                  # (N, K, C)
    maha = np.einsum("nkc,cd,nkd->nk", diff, precision, diff).min(axis=1)
    return maha + (residual ** 2).sum(axis=1) / float(entry["residual_variance"])


def modality_distances(ood: Mapping, modalities: Sequence[str], vectors: np.ndarray) -> np.ndarray:
    """Scaled distance (N, M) of each modality's vector; NaN where the vector is NaN
    (absent) or the card has no model for that modality."""
    vectors = np.asarray(vectors)
    out = np.full(vectors.shape[:2], np.nan)
    for index, modality in enumerate(modalities):
        entry = ood.get("per_modality", {}).get(modality)
        rows = ~np.isnan(vectors[:, index, 0])
        if entry is None or not rows.any():
            continue
        out[rows, index] = _distance(entry, vectors[rows, index]) / float(entry["scale"])
    return out


def ood_score(ood: Mapping, modalities: Sequence[str], vectors: np.ndarray) -> np.ndarray:
    """The study score (N,): the largest scaled distance over the present modalities.

    Raises ``ModelError`` when the card's ``ood`` entry is missing or has no model for
    any present modality."""
    if not ood or not ood.get("per_modality"):
        raise ModelError("This model card has no out-of-distribution statistics; refit them with "
                         "'python -m training.classifier calibrate'.")
    distances = modality_distances(ood, modalities, vectors)
    if np.isnan(distances).all(axis=1).any():
        raise ModelError("The model card has no out-of-distribution statistics for the given modalities.")
    return np.nanmax(distances, axis=1)


def widened_prediction_set(probabilities, coverage: float) -> np.ndarray:
    """The smallest set of classes whose probabilities add up to at least ``coverage``
    (most probable first): the prediction set of a flagged study, where the conformal
    guarantee (made for studies like the calibration data) cannot be relied on.

    Returns a bool mask of the same shape as ``probabilities`` (K,)."""
    p = np.asarray(probabilities, float)
    order = np.argsort(-p, kind="stable")
    cumulative = np.cumsum(p[order])
    keep = np.zeros(p.shape, bool)
    keep[order[: int(np.searchsorted(cumulative, coverage - 1e-12) + 1)]] = True
    return keep
