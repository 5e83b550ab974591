"""Fitting the band's width on held-out phantoms, whose true survival curve is known.

For every calibration patient, every visit (the prediction made then, given alive on its
day) and every kind of input (images + segmentation, images, segmentation, covariates
only), the score is how far the true probability of being alive one year later lies from
the prediction on the complementary log-log scale, in units of the ensemble's spread plus
``s0`` (the median spread). ``q`` for a kind and a number of visits seen (1, 2, 3, 4 or more:
later predictions know more, their band is narrower) is the split-conformal quantile of its
scores at the nominal level, so the band holds the true probability for that share of patients
exchangeable with the calibration cohort. Only phantoms have a true curve: for other data the
band stays the ensemble's spread (``braintumorai.survival.band.UNFITTED``).
"""

from __future__ import annotations

import math

import numpy as np

from braintumorai.survival.band import VISIT_GROUPS, cloglog, input_kind, visit_group
from braintumorai.survival.time_grid import TimeGrid
from braintumorai.synthetic.longitudinal import survival_probability

from .prognosis_data import CachedCohort, CohortSequences, configured_view
from .prognosis_fit import member_hazards

HORIZON_DAYS = 365.25
MIN_PER_GROUP = 50
KINDS = [(True, True), (True, False), (False, True), (False, False)]  # (images, segmentation)


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ``ceil((n + 1) level) / n`` empirical quantile (split conformal)."""
    scores = np.sort(np.asarray(scores, float))
    rank = min(math.ceil((len(scores) + 1) * level), len(scores))
    return float(scores[rank - 1])


def _scores(model, spec, grid: TimeGrid, cohort: CachedCohort, seqs: CohortSequences, images: bool,
            compartments: bool, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (patient, visit): |error| on the cloglog scale, the members' spread there, and the
    number of visits seen."""
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
            errors.append(abs(float(cloglog(truth) - cloglog(predicted))))
            spreads.append(float(cloglog(members).std()))
            seen.append(k + 1)
    return np.asarray(errors), np.asarray(spreads), np.asarray(seen)


def fit_band(model, spec, grid: TimeGrid, cohort: CachedCohort, seqs: CohortSequences, level: float = 0.9,
             seed: int = 0) -> dict:
    """The card's ``band``: ``{q: {kind: value}, s0, nominal_coverage, horizon_days, ...}``."""
    rng = np.random.default_rng(seed)
    kinds = {input_kind(*flags): flags for flags in KINDS
             if (not flags[0] or spec.image_dim) and (not flags[1] or spec.compartments)}
    measured = {kind: _scores(model, spec, grid, cohort, seqs, *flags, rng) for kind, flags in kinds.items()}
    s0 = float(np.median(np.concatenate([spread for _, spread, _ in measured.values()])))
    q = {}
    for kind, (errors, spread, seen) in measured.items():
        scores = errors / (spread + s0)
        groups = np.array([visit_group(k) for k in seen])
        pooled = conformal_quantile(scores, level)
        # A group with too few predictions for its own quantile takes the pooled one.
        q[kind] = {g: conformal_quantile(scores[groups == g], level) if np.sum(groups == g) >= MIN_PER_GROUP else pooled
                   for g in VISIT_GROUPS}
    return {"method": "ensemble spread on the complementary log-log scale, width fitted by split conformal "
                      "calibration against the true survival of held-out phantoms",
            "q": q, "s0": s0, "nominal_coverage": level, "horizon_days": HORIZON_DAYS,
            "calibration_patients": int(len(seqs)),
            "calibration_predictions": int(sum(len(e) for e, _, _ in measured.values()))}
