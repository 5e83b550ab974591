"""Evaluation of the prognosis model against its baselines, at landmarks.

A prediction made at landmark ``L`` (days since the first visit) may use only what is known
by then: the visits on or before ``L``. It is judged on the patients still alive and followed
at ``L``, on the time left after ``L`` (van Houwelingen's landmarking; Dynamic-DeepHit judges
its predictions the same way). ``L = 0`` is the classical baseline prediction. All models are
judged on the same patients with the same metrics:

- the GRU on the visits up to ``L`` (images of the four MRI + segmentation; also without the
  segmentation, and without images);
- the same GRU given only the first visit;
- a Cox model (lifelines ``CoxPHFitter``) on first-visit age, sex, KPS, tumour compartment
  volumes and the classifier's predicted type, fitted on the training cohort;
- Kaplan-Meier (lifelines) of the training cohort;
- the generator's oracle: each phantom patient's true risk and true survival curve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from braintumorai.survival.band import band_setting, ensemble_band
from braintumorai.survival.curves import curves_from_hazards
from braintumorai.survival.time_grid import TimeGrid
from braintumorai.synthetic.longitudinal import survival_probability

from . import survival_metrics as sm
from .prognosis_data import CachedCohort, CohortSequences, configured_view
from .prognosis_fit import member_hazards

YEAR = 365.25


@dataclass
class Judged:
    """One model's predictions on the landmark set: ``risk (N,)``, ``survival (N, T)`` at the
    residual evaluation times, S 12 months after the landmark, median survival since the first
    visit (NaN: not reached), and the band at 12 months when the model has one."""

    name: str
    risk: np.ndarray
    survival: np.ndarray
    at_12: np.ndarray
    median_days: np.ndarray
    lower_12: Optional[np.ndarray] = None
    upper_12: Optional[np.ndarray] = None


def gru_predictions(name, model, spec, grid: TimeGrid, band: dict, seqs: CohortSequences, subset: int, landmark: float,
                    times: np.ndarray, images=True, compartments=True, first_visit_only=False) -> Judged:
    """The GRU's prediction at ``landmark`` from the visits up to it (or the first only)."""
    seen = seqs.up_to_day(landmark)
    view = configured_view(seen.x, spec, subset, images=images, compartments=compartments)
    hazards = member_hazards(model, view)  # (M, N, K, J)
    last = np.zeros(len(seen), int) if first_visit_only else seen.lengths - 1
    chosen = hazards[:, np.arange(len(seen)), last]  # (M, N, J)
    settings = [band_setting(band, images and spec.image_dim > 0, compartments and spec.compartments, k + 1)
                for k in last]
    z, low, high = (np.array([s[key] for s in settings]) for key in ("z", "low", "high"))
    curves = curves_from_hazards(grid, chosen, landmark, {"z": z[:, None], "low": low[:, None], "high": high[:, None]})
    at = grid.survival_at(curves.hazards, [landmark + YEAR], landmark)[:, 0]
    members_12 = grid.survival_at(chosen, [landmark + YEAR], landmark)[..., 0]
    lower_12, upper_12 = ensemble_band(at, members_12, z, low, high)
    return Judged(name, curves.risk, grid.survival_at(curves.hazards, landmark + times, landmark), at,
                  curves.median_days, lower_12, upper_12)


def _first_visit_frame(cohort: CachedCohort, subset: int, classes: list):
    """First-visit covariates of every patient for the Cox model (missing values imputed with
    the training means by the caller, with a missing flag)."""
    import pandas as pd

    rows = []
    for index, patient in enumerate(cohort.patients):
        row0 = cohort.rows_of(index)[0]
        probabilities = cohort.visits["probabilities"][row0, subset]
        comp = np.nan_to_num(cohort.visits["compartments"][row0], nan=0.0)
        row = {"age": patient.get("age"), "kps": patient.get("kps"),
               "male": None if patient.get("sex") is None else float(patient["sex"] == "M"),
               "log_core": np.log1p(comp[0]), "log_oedema": np.log1p(comp[1]), "log_enhancing": np.log1p(comp[2])}
        predicted = classes[int(np.argmax(probabilities))] if np.all(np.isfinite(probabilities)) else None
        for name in classes[1:]:
            row[f"type_{name}"] = float(predicted == name)
        rows.append(row)
    return pd.DataFrame(rows)


def cox_predictions(train: CachedCohort, test: CachedCohort, subset: int, classes: list, keep: np.ndarray,
                    landmark: float, times: np.ndarray) -> Judged:
    """CoxPHFitter on first-visit covariates of the whole training cohort; read at the landmark."""
    from lifelines import CoxPHFitter

    frame_train, frame_test = _first_visit_frame(train, subset, classes), _first_visit_frame(test, subset, classes)
    for column in ("age", "kps", "male"):
        mean = frame_train[column].astype(float).mean()
        for frame in (frame_train, frame_test):
            frame[f"{column}_missing"] = frame[column].isna().astype(float)
            frame[column] = frame[column].astype(float).fillna(mean)
    frame_train = frame_train.loc[:, frame_train.std() > 0]
    frame_test = frame_test[frame_train.columns]
    time, event = train.outcome()
    fitter = CoxPHFitter(penalizer=0.01).fit(frame_train.assign(T=time, E=event), "T", "E")
    rows = frame_test.iloc[keep]
    fine = np.arange(landmark, landmark + 5 * YEAR, 7.0)
    curve = fitter.predict_survival_function(rows, times=np.concatenate([[landmark], fine, landmark + times,
                                                                         [landmark + YEAR]])).to_numpy().T
    base = np.clip(curve[:, :1], 1e-12, None)
    conditional = curve / base
    fine_s = conditional[:, 1:1 + len(fine)]
    below = fine_s <= 0.5
    median = np.where(below.any(1), fine[np.argmax(below, axis=1)], np.nan)
    return Judged("Cox (first visit: age, sex, KPS, volumes, predicted type)",
                  fitter.predict_partial_hazard(rows).to_numpy(), conditional[:, 1 + len(fine):-1],
                  conditional[:, -1], median)


def km_predictions(train: CachedCohort, n: int, landmark: float, times: np.ndarray) -> Judged:
    from lifelines import KaplanMeierFitter

    time, event = train.outcome()
    fitter = KaplanMeierFitter().fit(time, event)
    at = fitter.survival_function_at_times(np.concatenate([[landmark], landmark + times, [landmark + YEAR]])).to_numpy()
    conditional = at / max(at[0], 1e-12)
    fine = np.arange(landmark, landmark + 5 * YEAR, 7.0)
    fine_s = fitter.survival_function_at_times(fine).to_numpy() / max(at[0], 1e-12)
    median = fine[np.argmax(fine_s <= 0.5)] if np.any(fine_s <= 0.5) else np.nan
    return Judged("Kaplan-Meier (training cohort)", np.zeros(n), np.tile(conditional[1:-1], (n, 1)),
                  np.full(n, conditional[-1]), np.full(n, median))


def oracle_predictions(test: CachedCohort, keep: np.ndarray, landmark: float, times: np.ndarray) -> Judged:
    from braintumorai.synthetic.longitudinal import WEIBULL_SCALE_DAYS, WEIBULL_SHAPE

    risk = np.array([test.patients[i]["true_risk"] for i in keep])
    survival = np.stack([survival_probability(landmark + times, r, landmark) for r in risk])
    at = np.array([float(survival_probability(landmark + YEAR, r, landmark)) for r in risk])
    h_landmark = (max(landmark - 30.0, 0.0) / WEIBULL_SCALE_DAYS) ** WEIBULL_SHAPE * np.exp(risk)
    median = 30.0 + WEIBULL_SCALE_DAYS * ((h_landmark + np.log(2)) * np.exp(-risk)) ** (1 / WEIBULL_SHAPE)
    return Judged("Oracle (generator's true risk)", risk, survival, at, median)


def true_survival_12(test: CachedCohort, keep: np.ndarray, landmark: float) -> Optional[np.ndarray]:
    if "true_risk" not in test.patients[0]:
        return None
    return np.array([float(survival_probability(landmark + YEAR, test.patients[i]["true_risk"], landmark))
                     for i in keep])


def judge(judged: Judged, landmark: float, train_residual, test_residual, times, truth_12=None,
          bootstrap: int = 200, seed: int = 0) -> dict:
    """Every metric of one model on the landmark set (residual times)."""
    (tr_t, tr_e), (t, e) = train_residual, test_residual
    tau = min(3 * YEAR, float(np.max(t)) - 1)
    row = {"model": judged.name, "n": int(len(t)),
           "c_harrell": sm.harrell_c(t, e, judged.risk),
           "c_uno": sm.uno_c(tr_t, tr_e, t, e, judged.risk, tau)}
    auc = sm.time_auc(tr_t, tr_e, t, e, judged.risk, [YEAR, 2 * YEAR]) if np.ptp(judged.risk) > 0 else [0.5, 0.5]
    row["auc_12m"], row["auc_24m"] = auc
    row["ibs_0_36m"] = sm.integrated_brier(tr_t, tr_e, t, e, judged.survival, times)
    row["calibration_12m"] = sm.calibration_by_group(judged.at_12, t, e, YEAR)
    row["calibration_12m_mean_abs_error"] = float(np.mean([abs(g["predicted"] - g["observed"])
                                                           for g in row["calibration_12m"]]))
    # BraTS classes count survival since diagnosis: the landmark plus the time left.
    row["brats_3class_accuracy"], row["brats_3class_n"] = sm.brats_accuracy(judged.median_days, t + landmark, e)
    if judged.lower_12 is not None and truth_12 is not None:
        row["band_coverage_12m"] = sm.band_coverage(judged.lower_12, judged.upper_12, truth_12)
        row["band_width_12m"] = float(np.mean(judged.upper_12 - judged.lower_12))
    if bootstrap:
        row["c_harrell_ci"] = sm.bootstrap_interval(lambda i: sm.harrell_c(t[i], e[i], judged.risk[i]), len(t),
                                                    bootstrap, seed)
        def resampled_ibs(i):
            inside = np.isin(times, sm.within_follow_up(times, t[i], e[i]))
            return sm.integrated_brier(tr_t, tr_e, t[i], e[i], judged.survival[i][:, inside], times[inside])

        row["ibs_0_36m_ci"] = sm.bootstrap_interval(resampled_ibs, len(t), bootstrap, seed)
    return row


def evaluate_landmark(model, card: dict, spec, grid: TimeGrid, train: CachedCohort, test: CachedCohort,
                      test_seqs: CohortSequences, landmark: float, subset_name: str = "mri",
                      bootstrap: int = 200, baselines: bool = True) -> list[dict]:
    """The comparison table at one landmark (see the module docstring)."""
    subset = test.subsets.index(subset_name) if subset_name in test.subsets else 0
    time, event = test.outcome()
    keep = np.flatnonzero(time > landmark)
    seqs = test_seqs.take(keep)
    t, e = time[keep] - landmark, event[keep]
    tr_time, tr_event = train.outcome()
    tr_keep = tr_time > landmark
    train_residual = (tr_time[tr_keep] - landmark, tr_event[tr_keep])
    times = sm.brier_times(t, e, 3 * YEAR)
    truth = true_survival_12(test, keep, landmark)
    band = card.get("band") or {}
    judged = [
        gru_predictions("GRU: visits up to the landmark (images + segmentation)", model, spec, grid, band, seqs, subset,
                        landmark, times),
        gru_predictions("GRU: visits up to the landmark, images only", model, spec, grid, band, seqs, subset, landmark,
                        times, compartments=False),
        gru_predictions("GRU: first visit only (images + segmentation)", model, spec, grid, band, seqs, subset,
                        landmark, times, first_visit_only=True),
        gru_predictions("GRU: visits up to the landmark, no images, no segmentation", model, spec, grid, band, seqs,
                        subset, landmark, times, images=False, compartments=False),
    ]
    if baselines:
        classes = list(card.get("image_model", {}).get("classes") or [])
        if classes:
            judged.append(cox_predictions(train, test, subset, classes, keep, landmark, times))
        judged.append(km_predictions(train, len(keep), landmark, times))
        if truth is not None:
            judged.append(oracle_predictions(test, keep, landmark, times))
    return [dict(judge(j, landmark, train_residual, (t, e), times, truth, bootstrap), landmark_days=landmark)
            for j in judged]
