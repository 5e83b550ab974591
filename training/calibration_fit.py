"""Fit the calibration numbers stored in a model card: temperature and conformal threshold.

Both are fitted on a held-out calibration split that the network never trained on, and
applied at inference by ``braintumorai.calibration``. Coverage and set size are the two
numbers to report beside a conformal threshold.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp

from braintumorai.errors import InputError


def _check_labels(labels, n_cases: int, n_classes: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != n_cases:
        raise InputError(f"labels have shape {y.shape}; pass one integer class index per case ({n_cases},).")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise InputError("labels must be integer class indices, not probabilities or names.")
        y = y.astype(np.int64)
    if n_cases and (y.min() < 0 or y.max() >= n_classes):
        raise InputError(f"labels must lie in 0..{n_classes - 1} (one per column of the scores).")
    return y


def _check_scores(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] < 2:
        raise InputError(f"{name} have shape {array.shape}; pass an (N, K) array with N >= 1 and K >= 2.")
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name} contain NaN or infinite values; check the model output.")
    return array


def temperature_nll(logits, labels, temperature: float) -> float:
    """Mean negative log-likelihood (nats per case) of ``softmax(logits / T)``."""
    z = _check_scores(logits, "logits")
    y = _check_labels(labels, z.shape[0], z.shape[1])
    scaled = z / float(temperature)
    return float(np.mean(logsumexp(scaled, axis=1) - scaled[np.arange(len(y)), y]))


def fit_temperature(logits, labels, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """Temperature T minimising the NLL of ``softmax(logits / T)`` on a calibration split.

    The search runs over log T with bounded Brent (``scipy.optimize.minimize_scalar``):
    the NLL is convex in 1/T, so it is unimodal in log T and the bounded search finds
    the minimum. A perfectly separable split pushes T towards the lower bound (the NLL
    keeps falling as the logits sharpen); the bound keeps the result finite.

    Args:
        logits: (N, K) pre-softmax outputs of the network.
        labels: (N,) integer true classes in 0..K-1.
        bounds: (lowest, highest) temperature allowed, both > 0.

    Returns:
        The fitted temperature (float, > 0).
    """
    z = _check_scores(logits, "logits")
    y = _check_labels(labels, z.shape[0], z.shape[1])
    low, high = (float(b) for b in bounds)
    if not (0 < low < high and np.isfinite(high)):
        raise InputError(f"temperature bounds {bounds} are invalid; pass (low, high) with 0 < low < high.")
    true_logit = z[np.arange(len(y)), y]

    def nll(log_t: float) -> float:
        t = math.exp(log_t)
        return float(np.mean(logsumexp(z / t, axis=1) - true_logit / t))

    result = minimize_scalar(
        nll, bounds=(math.log(low), math.log(high)), method="bounded", options={"xatol": 1e-6}
    )
    best = float(result.x)
    # Brent can stop just inside a bound when the optimum lies on it; keep the better end.
    for edge in (math.log(low), math.log(high)):
        if nll(edge) < nll(best):
            best = edge
    return float(math.exp(best))


def conformal_threshold(probabilities, labels, coverage: float = 0.9) -> float:
    """Split-conformal threshold on the LAC score ``1 - p(true class)``.

    With n calibration cases and alpha = 1 - coverage, the threshold is the
    ceil((n + 1)(1 - alpha))-th smallest score, i.e. the empirical quantile at level
    ceil((n + 1)(1 - alpha)) / n. That finite-sample correction makes the sets of
    ``braintumorai.calibration.conformal_prediction_set`` cover the true class with
    probability >= coverage on exchangeable data. When n is too small for the requested
    coverage (ceil((n + 1)(1 - alpha)) > n) the threshold is 1.0: every class is in
    every set, the only honest answer.

    Args:
        probabilities: (N, K) calibrated probabilities of the calibration split (after
            temperature scaling, exactly as they will be at inference).
        labels: (N,) integer true classes.
        coverage: nominal coverage 1 - alpha, in (0, 1).

    Returns:
        The threshold (float in [0, 1]) to store in the model card.
    """
    p = _check_scores(probabilities, "probabilities")
    y = _check_labels(labels, p.shape[0], p.shape[1])
    coverage = float(coverage)
    if not 0 < coverage < 1:
        raise InputError(f"coverage is {coverage}; pass a nominal coverage strictly between 0 and 1, e.g. 0.9.")
    scores = np.sort(1.0 - p[np.arange(len(y)), y])
    n = len(scores)
    # The small epsilon stops float error from turning e.g. 900.0000000001 into 901.
    rank = math.ceil((n + 1) * coverage - 1e-9)
    if rank > n:
        return 1.0
    return float(np.clip(scores[max(rank, 1) - 1], 0.0, 1.0))


def empirical_coverage(sets, labels) -> float:
    """Share of cases whose prediction set contains the true class.

    Args:
        sets: (N, K) boolean prediction sets.
        labels: (N,) integer true classes.
    """
    s = np.asarray(sets)
    if s.ndim != 2 or s.shape[0] == 0:
        raise InputError(f"prediction sets have shape {s.shape}; pass an (N, K) boolean array.")
    y = _check_labels(labels, s.shape[0], s.shape[1])
    return float(np.mean(s.astype(bool)[np.arange(len(y)), y]))


def mean_set_size(sets) -> float:
    """Mean number of classes per prediction set; (N, K) boolean input."""
    s = np.asarray(sets)
    if s.ndim != 2 or s.shape[0] == 0:
        raise InputError(f"prediction sets have shape {s.shape}; pass an (N, K) boolean array.")
    return float(np.mean(s.astype(bool).sum(axis=1)))
