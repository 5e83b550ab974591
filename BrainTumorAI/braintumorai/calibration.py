"""Calibrated probabilities, conformal prediction sets and uncertainty at inference.

The numbers these functions need (the temperature and the conformal threshold) are
fitted once on a held-out calibration split by ``training.calibration_fit`` and stored
in the model card; here they are only applied. Plain numpy, no torch.

- Temperature scaling (Guo et al., 2017): ``softmax(logits / T)``. ``T > 1`` softens
  over-confident logits, ``T < 1`` sharpens; the predicted class never changes.
- Split-conformal prediction sets with the LAC score ``s = 1 - p(class)`` (Sadinle et
  al., 2019): a class is in the set when ``1 - p <= threshold``. With the threshold from
  ``training.calibration_fit.conformal_threshold`` the set holds the true class with
  probability at least the nominal coverage on data exchangeable with the calibration
  split.
- Both are fitted per modality subset (a study with T1C and FLAIR only is calibrated
  with the numbers fitted on the calibration split reduced to T1C and FLAIR), because a
  one-modality answer is less certain than a six-modality one and a single temperature
  would over-soften one and under-soften the other. :func:`calibration_for` picks them.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

from .errors import InputError


def _as_float_array(values, name: str, ndim: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim not in ndim:
        shapes = " or ".join("(K,)" if n == 1 else "(N, K)" for n in ndim)
        raise InputError(f"{name} has shape {array.shape}; pass an array of shape {shapes}.")
    if array.size == 0 or array.shape[-1] == 0:
        raise InputError(f"{name} is empty; pass at least one class score.")
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name} contains NaN or infinite values; check the model output.")
    return array


def _as_probabilities(probabilities, name: str = "probabilities") -> np.ndarray:
    array = _as_float_array(probabilities, name, ndim=(1, 2))
    # A little slack for float32 softmax outputs.
    if np.any(array < -1e-6) or np.any(array > 1 + 1e-6):
        raise InputError(f"{name} must lie in [0, 1]; pass softmax outputs, not logits.")
    return np.clip(array, 0.0, 1.0)


def subset_key(modalities: Sequence[str]) -> str:
    """Name of a modality subset in a model card's calibration table: the modality
    names in the model's channel order, joined by ``+`` (e.g. ``"T1C+FLAIR"``)."""
    return "+".join(modalities)


def calibration_for(calibration: Mapping, present: Sequence[str]) -> tuple[float, Optional[float]]:
    """``(temperature, conformal threshold)`` for a study with the ``present`` modalities
    (in the model's channel order), from a model card's ``calibration`` entry.

    The card's ``per_subset`` table maps :func:`subset_key` names to
    ``{"temperature", "conformal_threshold"}``; a subset it does not list (or a card
    without the table) gets the values pooled over all subsets. The threshold is
    ``None`` when the card has none (no prediction sets then).
    """
    entry = (calibration.get("per_subset") or {}).get(subset_key(present)) or calibration
    threshold = entry.get("conformal_threshold")
    return float(entry.get("temperature", 1.0)), None if threshold is None else float(threshold)


def apply_temperature(logits, temperature: float = 1.0) -> np.ndarray:
    """Softmax of ``logits / temperature``, computed without overflow.

    Args:
        logits: shape (K,) for one case or (N, K) for N cases; any finite values.
        temperature: T > 0 (dimensionless), usually from the model card.

    Returns:
        Probabilities of the same shape as ``logits``, float64, each row summing to 1.
    """
    z = _as_float_array(logits, "logits", ndim=(1, 2))
    temperature = float(temperature)
    if not np.isfinite(temperature) or temperature <= 0:
        raise InputError(f"temperature is {temperature}; it must be a positive finite number.")
    z = z / temperature
    # Subtracting the row maximum leaves the softmax unchanged and keeps exp() <= 1.
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def conformal_prediction_set(probabilities, threshold: float) -> np.ndarray:
    """Conformal (LAC) prediction set: the classes whose score ``1 - p`` is <= threshold.

    The set is never empty: the most probable class (argmax, first one on ties) is
    always included, even when its score exceeds the threshold. This can only add
    coverage, so the conformal guarantee still holds; it means a very strict threshold
    gives the top-1 prediction rather than an empty answer.

    Args:
        probabilities: shape (K,) or (N, K), calibrated probabilities in [0, 1].
        threshold: conformal threshold on ``1 - p`` in [0, 1], from
            ``training.calibration_fit.conformal_threshold``. 1 gives every class.

    Returns:
        Boolean mask of the same shape as ``probabilities``; True = class in the set.
    """
    p = _as_probabilities(probabilities)
    threshold = float(threshold)
    if not np.isfinite(threshold) or threshold < 0:
        raise InputError(f"conformal threshold is {threshold}; it must be a number in [0, 1].")
    mask = (1.0 - p) <= threshold
    top = np.argmax(p, axis=-1)
    if p.ndim == 1:
        mask[top] = True
    else:
        mask[np.arange(p.shape[0]), top] = True
    return mask


def normalised_entropy(probabilities):
    """Shannon entropy divided by log(K): 0 for a one-hot, 1 for the uniform distribution.

    Args:
        probabilities: shape (K,) or (N, K); rows are renormalised to sum to 1.

    Returns:
        A float in [0, 1] for a (K,) input, an array of shape (N,) for an (N, K) input.
        With a single class (K = 1) the entropy is 0.
    """
    p = _as_probabilities(probabilities)
    total = p.sum(axis=-1, keepdims=True)
    if np.any(total <= 0):
        raise InputError("probabilities sum to 0 for some case; pass softmax outputs.")
    p = p / total
    k = p.shape[-1]
    if k == 1:
        entropy = np.zeros(p.shape[:-1])
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, p * np.log(p), 0.0)  # 0 log 0 = 0
        entropy = np.clip(-terms.sum(axis=-1) / np.log(k), 0.0, 1.0)
    return float(entropy) if p.ndim == 1 else entropy
