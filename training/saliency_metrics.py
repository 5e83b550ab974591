"""How well a saliency map explains a prediction, measured on phantoms with known truth.

All volumes are numpy arrays on one grid, shape (D, H, W) (the image has a leading
modality axis, (M, D, H, W)); masks are boolean or 0/1. Each measure should be
reported beside the same measure for ``random_map`` and ``uniform_map``, the two
baselines a useful map must beat.

- Pointing game (Zhang et al., 2018): does the map's maximum fall in the target?
- Energy inside: share of the map's mass inside the target, against the target's share
  of the brain (what a map blind to the tumour would score).
- Deletion AUC (Petsiuk et al., 2018): delete the most salient voxels first; the faster
  the class probability falls, the smaller the area and the more faithful the map.
- Modality agreement: Spearman correlation of the attention weights with the drop in
  probability when each modality is removed.
"""

from __future__ import annotations

import warnings
from typing import Callable, Mapping

import numpy as np
from scipy import integrate, ndimage, stats

from braintumorai.errors import InputError


def _volume(values, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 3:
        raise InputError(f"{name} has shape {array.shape}; pass a (D, H, W) volume.")
    if shape is not None and array.shape != tuple(shape):
        raise InputError(
            f"{name} has shape {array.shape} but the other volumes have {tuple(shape)}; put them on one grid."
        )
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name} contains NaN or infinite values.")
    return array


def _mask(values, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    mask = _volume(values, name, shape) != 0
    if not mask.any():
        raise InputError(f"{name} is empty; pass a mask with at least one voxel.")
    return mask


def pointing_game(saliency, target_mask, tolerance_voxels: int = 1, brain_mask=None) -> bool:
    """True when the map's maximum lies in the target, dilated by ``tolerance_voxels``.

    The tolerance is a Euclidean distance in voxels (0 = strictly inside the target).
    If several voxels share the maximum, the game is won only when all of them lie in
    the dilated target: a flat map does not point anywhere. With ``brain_mask`` given,
    saliency outside the brain is ignored.

    Args:
        saliency: (D, H, W) map, larger = more relevant.
        target_mask: (D, H, W) mask of the region that should be found (tumour + oedema).
        tolerance_voxels: distance in voxels around the target still counted as a hit.
        brain_mask: optional (D, H, W) mask restricting where the maximum is sought.
    """
    s = _volume(saliency, "saliency")
    target = _mask(target_mask, "target_mask", s.shape)
    if tolerance_voxels < 0:
        raise InputError(f"tolerance_voxels is {tolerance_voxels}; pass a distance >= 0.")
    if brain_mask is not None:
        brain = _mask(brain_mask, "brain_mask", s.shape)
        s = np.where(brain, s, -np.inf)
    peaks = s == s.max()
    # Distance of every voxel to the nearest target voxel (0 inside the target).
    distance = ndimage.distance_transform_edt(~target)
    return bool(np.all(distance[peaks] <= tolerance_voxels))


def energy_inside(saliency, target_mask, brain_mask) -> tuple[float, float]:
    """Share of the saliency mass inside the target, and the target's share of the brain.

    Only the positive part of the map counts (negative evidence is not "where the
    decision came from"), and only inside the brain. A map that ignores the tumour
    scores about the second number; a good map scores well above it.

    Args:
        saliency: (D, H, W) map.
        target_mask: (D, H, W) mask of tumour + oedema.
        brain_mask: (D, H, W) brain mask.

    Returns:
        (saliency share inside the target, target volume / brain volume), both in
        [0, 1]. The first is NaN when the map has no positive mass in the brain.
    """
    s = _volume(saliency, "saliency")
    target = _mask(target_mask, "target_mask", s.shape)
    brain = _mask(brain_mask, "brain_mask", s.shape)
    inside = target & brain
    positive = np.where(brain, np.clip(s, 0.0, None), 0.0)
    total = positive.sum()
    share = float(positive[inside].sum() / total) if total > 0 else float("nan")
    return share, float(inside.sum() / brain.sum())


def deletion_order(saliency, brain_mask, seed: int = 0) -> np.ndarray:
    """Flat indices of the brain voxels, most salient first.

    Ties (a uniform map is all ties, a Grad-CAM has plateaus) are broken in a random
    order drawn from ``seed``, so a flat map deletes voxels at random instead of in
    memory order (which would sweep the volume slice by slice and bias the score).
    """
    s = _volume(saliency, "saliency")
    brain = _mask(brain_mask, "brain_mask", s.shape)
    voxels = np.flatnonzero(brain)
    tie_break = np.random.default_rng(seed).random(voxels.size)
    # lexsort sorts by the last key first: saliency descending, then the random key.
    return voxels[np.lexsort((tie_break, -s.ravel()[voxels]))]


def deletion_curve(
    score_fn: Callable[[np.ndarray], float],
    image,
    saliency,
    brain_mask,
    steps: int = 20,
    baseline=0.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Class probability as the most salient brain voxels are deleted.

    At step k (k = 0..steps) the first round(k / steps * n_brain) voxels of
    ``deletion_order`` are set to ``baseline`` in every channel and ``score_fn`` is
    called on a copy of the image.

    Args:
        score_fn: image (M, D, H, W) -> probability of the explained class (float).
        image: (M, D, H, W) model input, M modality channels.
        saliency: (D, H, W) map to evaluate.
        brain_mask: (D, H, W) voxels that may be deleted.
        steps: number of equal fractions of the brain (steps + 1 calls to score_fn).
        baseline: value of a deleted voxel, a number or one per channel (M,).
        seed: seed of the random order among tied saliency values.

    Returns:
        (x, y): x = deleted fraction of the brain, (steps + 1,) from 0 to 1; y = score.
    """
    work = np.array(image, dtype=np.float32 if np.asarray(image).dtype == np.float32 else np.float64)
    if work.ndim != 4:
        raise InputError(f"image has shape {work.shape}; pass an (M, D, H, W) array with the modality axis first.")
    if np.shape(saliency) != work.shape[1:]:
        raise InputError(f"saliency has shape {np.shape(saliency)} but the image grid is {work.shape[1:]}.")
    order = deletion_order(saliency, brain_mask, seed)
    steps = int(steps)
    if steps < 1:
        raise InputError(f"steps is {steps}; pass at least 1.")
    fill = np.asarray(baseline, dtype=work.dtype).reshape(-1)
    if fill.size not in (1, work.shape[0]):
        raise InputError(f"baseline has {fill.size} values; pass one number or one per channel ({work.shape[0]}).")
    fill = np.broadcast_to(fill, (work.shape[0],))

    flat = work.reshape(work.shape[0], -1)  # a view: writing it edits ``work``
    x = np.linspace(0.0, 1.0, steps + 1)
    cuts = np.round(x * order.size).astype(np.int64)
    y = np.empty(steps + 1)
    for k, cut in enumerate(cuts):
        if k > 0:
            flat[:, order[cuts[k - 1]:cut]] = fill[:, None]
        score = float(score_fn(work.copy()))
        if not np.isfinite(score):
            raise InputError(f"score_fn returned {score} at step {k}; it must return a finite probability.")
        y[k] = score
    return x, y


def deletion_auc(
    score_fn: Callable[[np.ndarray], float],
    image,
    saliency,
    brain_mask,
    steps: int = 20,
    baseline=0.0,
    seed: int = 0,
) -> float:
    """Area under ``deletion_curve`` (trapezoid rule over x in [0, 1]); lower is better.

    Arguments as ``deletion_curve``. Compare it with the same measure for
    ``random_map`` and ``uniform_map`` on the same case.
    """
    x, y = deletion_curve(score_fn, image, saliency, brain_mask, steps, baseline, seed)
    return float(integrate.trapezoid(y, x))


def random_map(shape, brain_mask, seed: int = 0) -> np.ndarray:
    """Baseline map: independent uniform [0, 1) values in the brain, 0 outside."""
    brain = _mask(brain_mask, "brain_mask")
    if tuple(shape) != brain.shape:
        raise InputError(f"shape {tuple(shape)} differs from the brain mask's {brain.shape}.")
    values = np.random.default_rng(seed).random(brain.shape)
    return np.where(brain, values, 0.0)


def uniform_map(brain_mask) -> np.ndarray:
    """Baseline map: 1 in the brain, 0 outside.

    Every brain voxel ties, so ``deletion_order`` deletes them in a seeded random order
    and ``pointing_game`` counts it as a miss (it points nowhere).
    """
    return _mask(brain_mask, "brain_mask").astype(np.float64)


def modality_drop_importance(
    prob_full, probs_without: Mapping[str, object], class_index: int
) -> dict[str, float]:
    """Drop in the explained class's probability when each modality is removed.

    Args:
        prob_full: (K,) probabilities with every modality present.
        probs_without: modality -> (K,) probabilities with that modality removed.
        class_index: the class explained (usually the predicted one).

    Returns:
        modality -> prob_full[class] - prob_without[class] (positive = the modality helped).
    """
    full = np.asarray(prob_full, dtype=np.float64)
    if full.ndim != 1 or not 0 <= int(class_index) < full.size:
        raise InputError(f"prob_full must be a (K,) vector and class_index in 0..{full.size - 1}.")
    importance = {}
    for modality, probs in probs_without.items():
        p = np.asarray(probs, dtype=np.float64)
        if p.shape != full.shape:
            raise InputError(f"probabilities without {modality} have shape {p.shape}; expected {full.shape}.")
        importance[modality] = float(full[class_index] - p[class_index])
    return importance


def spearman_modality_agreement(weights, drop_importance) -> float:
    """Spearman rank correlation of modality weights with modality-drop importance.

    Args:
        weights: (M,) attention weights, or a dict modality -> weight.
        drop_importance: (M,) importances in the same order, or a dict modality ->
            importance (then aligned on the keys of ``weights``).

    Returns:
        rho in [-1, 1]; NaN when it is undefined (fewer than 2 modalities, or one of
        the two vectors is constant).
    """
    if isinstance(weights, Mapping):
        if not isinstance(drop_importance, Mapping) or set(weights) != set(drop_importance):
            raise InputError("weights and drop_importance must name the same modalities.")
        keys = list(weights)
        weights = [weights[k] for k in keys]
        drop_importance = [drop_importance[k] for k in keys]
    w = np.asarray(weights, dtype=np.float64).ravel()
    d = np.asarray(drop_importance, dtype=np.float64).ravel()
    if w.shape != d.shape:
        raise InputError(f"weights ({w.size}) and drop_importance ({d.size}) need one value per modality each.")
    if w.size < 2 or np.ptp(w) == 0 or np.ptp(d) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = stats.spearmanr(w, d).statistic
    return float(rho)
