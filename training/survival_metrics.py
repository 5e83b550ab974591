"""Survival metrics from scikit-survival and lifelines (not written again here), plus the
few figures they lack: calibration by risk group, band coverage, BraTS 3-class accuracy,
and bootstrap intervals.

Conventions: ``risk`` higher = worse (as scikit-survival's estimators); ``survival`` is
``(N, T)`` at ``times``; times in days.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

# BraTS survival task classes (days since diagnosis): short < 10 months, mid 10-15, long > 15.
BRATS_CUTS_DAYS = (300.0, 450.0)


def _y(time, event):
    from sksurv.util import Surv

    return Surv.from_arrays(event=np.asarray(event, bool), time=np.asarray(time, float))


def harrell_c(time, event, risk) -> float:
    """Harrell's C (scikit-survival ``concordance_index_censored``)."""
    from sksurv.metrics import concordance_index_censored

    return float(concordance_index_censored(np.asarray(event, bool), np.asarray(time, float), np.asarray(risk, float))[0])


def uno_c(train_time, train_event, time, event, risk, tau: float) -> float:
    """Uno's IPCW C up to ``tau`` (censoring distribution from the training set)."""
    from sksurv.metrics import concordance_index_ipcw

    return float(concordance_index_ipcw(_y(train_time, train_event), _y(time, event), np.asarray(risk, float),
                                        tau=tau)[0])


def time_auc(train_time, train_event, time, event, risk, at_days) -> list[float]:
    """Cumulative/dynamic AUC at each of ``at_days``; NaN at a day outside the test data's
    follow-up ``[min, max[`` (a small test set), where it is not defined."""
    from sksurv.metrics import cumulative_dynamic_auc

    time, at_days = np.asarray(time, float), np.asarray(at_days, float)
    inside = (at_days >= time.min()) & (at_days < time.max())
    auc = np.full(len(at_days), np.nan)
    if inside.any():
        auc[inside] = cumulative_dynamic_auc(_y(train_time, train_event), _y(time, event),
                                             np.asarray(risk, float), at_days[inside])[0]
    return [float(a) for a in auc]


def integrated_brier(train_time, train_event, time, event, survival, times) -> float:
    """Integrated Brier score over ``times`` (IPCW, censoring from the training set)."""
    from sksurv.metrics import integrated_brier_score

    if len(times) < 2:  # a test set too small to span two evaluation times: not defined
        return float("nan")
    return float(integrated_brier_score(_y(train_time, train_event), _y(time, event), np.asarray(survival, float),
                                        np.asarray(times, float)))


def brier_times(time, event, horizon_days: float, step_days: float = 365.25 / 12) -> np.ndarray:
    """Monthly evaluation times up to ``horizon_days``, inside the test follow-up (as
    scikit-survival requires)."""
    return within_follow_up(np.arange(step_days, horizon_days + 1e-9, step_days), time, event)


def within_follow_up(times, time, event) -> np.ndarray:
    """The ``times`` inside the test data's follow-up, where an IPCW Brier score is defined."""
    time, times = np.asarray(time, float), np.asarray(times, float)
    last = np.max(time[np.asarray(event, bool)]) if np.any(event) else np.max(time)
    return times[(times >= time.min()) & (times < last)]


def calibration_by_group(predicted, time, event, at_day: float, groups: int = 5) -> list[dict]:
    """Predicted vs Kaplan-Meier observed survival at ``at_day`` by quantile groups of the
    prediction (lifelines ``KaplanMeierFitter``): ``[{group, n, predicted, observed}]``."""
    from lifelines import KaplanMeierFitter

    predicted = np.asarray(predicted, float)
    order = np.argsort(predicted)
    rows = []
    for index, chunk in enumerate(np.array_split(order, groups)):
        fitter = KaplanMeierFitter().fit(np.asarray(time)[chunk], np.asarray(event)[chunk])
        rows.append({"group": index + 1, "n": int(len(chunk)), "predicted": float(predicted[chunk].mean()),
                     "observed": float(fitter.survival_function_at_times(at_day).iloc[0])})
    return rows


def band_coverage(lower, upper, truth) -> float:
    """Share of patients whose true survival probability lies inside their band."""
    lower, upper, truth = (np.asarray(a, float) for a in (lower, upper, truth))
    return float(np.mean((lower - 1e-9 <= truth) & (truth <= upper + 1e-9)))


def brats_classes(days) -> np.ndarray:
    """0 short (< 10 months), 1 mid (10-15), 2 long (> 15), from survival days since diagnosis."""
    return np.digitize(np.asarray(days, float), BRATS_CUTS_DAYS)


def brats_accuracy(predicted_median_days, time, event) -> tuple[float, int]:
    """3-class accuracy on the patients whose class is known (death observed, or alive past
    15 months); a median "not reached" (NaN) predicts long. Returns (accuracy, n)."""
    time, event = np.asarray(time, float), np.asarray(event, bool)
    known = event | (time > BRATS_CUTS_DAYS[1])
    predicted = np.nan_to_num(np.asarray(predicted_median_days, float), nan=np.inf)
    if not known.any():
        return float("nan"), 0
    return float(np.mean(brats_classes(predicted[known]) == brats_classes(time[known]))), int(known.sum())


def bootstrap_interval(metric: Callable[[np.ndarray], float], n: int, repeats: int = 200, seed: int = 0,
                       level: float = 0.95) -> Optional[tuple[float, float]]:
    """Percentile interval of ``metric(indices)`` over patient resamples (failed resamples skipped)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(repeats):
        try:
            value = metric(rng.integers(n, size=n))
        except (ValueError, ZeroDivisionError):
            continue
        if np.isfinite(value):
            values.append(value)
    if len(values) < repeats // 2:
        return None
    tail = (1 - level) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))
