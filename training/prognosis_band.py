"""Fitting the band on held-out phantoms, whose true survival curve is known.

For every calibration patient, every visit (the prediction made then, given alive on its
day) and every kind of input (images + segmentation, images, segmentation, covariates
only), the residual ``r`` is how far the true probability of being alive one year later lies
from the prediction on the complementary log-log scale, and ``s`` the ensemble's spread there.
The band ``[c* + low - z s, c* + high + z s]`` (``braintumorai.survival.band``) holds the truth
when ``r + z s >= low`` and ``r - z s <= high``; ``low`` and ``high`` are the lower and upper
``(1 - level) / 2`` quantiles of those two, per kind and number of visits seen (1, 2, 3, 4 or
more: later predictions know more, their band is narrower), so the band holds the true
probability for about ``level`` of patients exchangeable with the calibration cohort. The
quantiles are signed: the truth of a patient lies more often on one side of the prediction
(a group's average curve is not the curve of its average patient), and the band follows it.
Only phantoms have a true curve; for other data the band stays the ensemble's spread.
"""

from __future__ import annotations

import numpy as np

from braintumorai.survival.band import VISIT_GROUPS, Z_SPREAD, cloglog, input_kind, visit_group
from braintumorai.survival.time_grid import TimeGrid
from braintumorai.synthetic.longitudinal import survival_probability

from .prognosis_data import CachedCohort, CohortSequences, configured_view
from .prognosis_fit import member_hazards

HORIZON_DAYS = 365.25
MIN_PER_GROUP = 50
KINDS = [(True, True), (True, False), (False, True), (False, False)]  # (images, segmentation)


def residuals(model, spec, grid: TimeGrid, cohort: CachedCohort, seqs: CohortSequences, images: bool,
              compartments: bool, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (patient, visit): the signed residual on the cloglog scale one year after the visit,
    the members' spread there, and the number of visits seen. Each patient is read with a
    modality subset drawn at random, as users bring different protocols."""
    subset = rng.integers(len(cohort.subsets), size=len(seqs))
    view = np.stack([configured_view(seqs.x[:, [n]], spec, int(s), images, compartments)[0]
                     for n, s in enumerate(subset)])
    hazards = member_hazards(model, view)  # (M, N, K, J)
    errors, spreads, seen = [], [], []
    for n in range(len(seqs)):
        risk = cohort.patients[n]["true_risk"]
        for k in range(seqs.lengths[n]):
            day = float(seqs.days[n, k])
            members = grid.survival_at(hazards[:, n, k], [day + HORIZON_DAYS], day)[:, 0]
            predicted = grid.survival_at(hazards[:, n, k].mean(0), [day + HORIZON_DAYS], day)[0]
            truth = float(survival_probability(day + HORIZON_DAYS, risk, day))
            errors.append(float(cloglog(truth) - cloglog(predicted)))
            spreads.append(float(cloglog(members).std()))
            seen.append(k + 1)
    return np.asarray(errors), np.asarray(spreads), np.asarray(seen)


def offsets(errors: np.ndarray, spreads: np.ndarray, level: float, z: float = Z_SPREAD) -> list[float]:
    """``[low, high]`` so that ``[r + z s >= low]`` and ``[r - z s <= high]`` each fail for
    ``(1 - level) / 2`` of the residuals; ``low <= 0 <= high`` so the band holds the curve."""
    tail = (1.0 - level) / 2.0
    low = float(np.quantile(errors + z * spreads, tail))
    high = float(np.quantile(errors - z * spreads, 1.0 - tail))
    return [min(low, 0.0), max(high, 0.0)]


def fit_band(model, spec, grid: TimeGrid, cohort: CachedCohort, seqs: CohortSequences, level: float = 0.9,
             seed: int = 0) -> dict:
    """The card's ``band``: ``{z, offsets: {kind: {visit group: [low, high]}}, nominal_coverage, ...}``."""
    rng = np.random.default_rng(seed)
    kinds = {input_kind(*flags): flags for flags in KINDS
             if (not flags[0] or spec.image_dim) and (not flags[1] or spec.compartments)}
    fitted, counted = {}, 0
    for kind, flags in kinds.items():
        errors, spreads, seen = residuals(model, spec, grid, cohort, seqs, *flags, rng)
        counted += len(errors)
        groups = np.array([visit_group(k) for k in seen])
        pooled = offsets(errors, spreads, level)
        # A group with too few predictions for quantiles of its own takes the pooled ones.
        fitted[kind] = {g: offsets(errors[groups == g], spreads[groups == g], level)
                        if np.sum(groups == g) >= MIN_PER_GROUP else pooled for g in VISIT_GROUPS}
    return {"method": "ensemble spread plus residual quantiles on the complementary log-log scale, fitted against "
                      "the true survival of held-out phantoms one year after each visit",
            "z": Z_SPREAD, "offsets": fitted, "nominal_coverage": level, "horizon_days": HORIZON_DAYS,
            "calibration_patients": int(len(seqs)), "calibration_predictions": counted}
