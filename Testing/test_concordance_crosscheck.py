"""The cohort C-index is checked against a second, independent implementation
(scikit-survival), not against the lifelines call that computes it, and against a
count of concordant pairs written out here."""

import numpy as np
import pytest

from braintumorai.synthetic.longitudinal import cohort_concordance, generate_cohort

sksurv_metrics = pytest.importorskip("sksurv.metrics")


def harrell_c(time, event, risk) -> float:
    """Harrell's C by definition: over pairs where the earlier time is an event, the share
    in which that patient has the higher risk (ties in risk count one half). A death on the
    same day as a censoring counts as the earlier one (the censored patient was alive)."""
    time, event, risk = map(np.asarray, (time, event, risk))
    event = event.astype(bool)
    earlier = (time[:, None] < time[None, :]) & event[:, None]
    earlier |= (time[:, None] == time[None, :]) & event[:, None] & ~event[None, :]
    higher = risk[:, None] > risk[None, :]
    tied = risk[:, None] == risk[None, :]
    return float((earlier & higher).sum() + 0.5 * (earlier & tied).sum()) / float(earlier.sum())


@pytest.mark.parametrize("seed", [0, 4])
def test_cohort_c_index_agrees_with_scikit_survival_and_the_definition(seed):
    patients = generate_cohort(400, seed, with_case_params=False)
    figures = cohort_concordance(patients)
    time = np.array([p.survival_days for p in patients], float)
    event = np.array([p.event for p in patients], bool)
    for key, risk in (("oracle", [p.true_risk for p in patients]),
                      ("first_visit", [p.first_visit_risk for p in patients])):
        risk = np.asarray(risk, float)
        by_sksurv = sksurv_metrics.concordance_index_censored(event, time, risk)[0]
        assert figures[key] == pytest.approx(by_sksurv, abs=1e-9), key
        assert figures[key] == pytest.approx(harrell_c(time, event, risk), abs=1e-9), key
    assert figures["first_visit"] < figures["oracle"]
