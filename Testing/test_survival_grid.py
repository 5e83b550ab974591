"""Discrete-time survival: likelihood masks and values on hand-computed tiny cases, curves,
median, conditional survival, and the band."""

import math

import numpy as np
import pytest
import torch

from braintumorai.errors import InputError
from braintumorai.survival.band import ensemble_band
from braintumorai.survival.curves import curves_from_hazards
from braintumorai.survival.likelihood import discrete_time_nll
from braintumorai.survival.time_grid import TimeGrid

GRID = TimeGrid((0.0, 10.0, 20.0, 30.0))


@pytest.mark.parametrize("time, event, entry, survived, failed", [
    (15, True, 0, [1, 0, 0], [0, 1, 0]),     # death inside interval 1
    (15, False, 0, [1, 1, 0], [0, 0, 0]),    # censored at the midpoint of interval 1: counts as survived
    (14, False, 0, [1, 0, 0], [0, 0, 0]),    # censored before the midpoint: does not
    (10, True, 0, [1, 0, 0], [0, 1, 0]),     # death on an edge: in the interval that starts there
    (0, True, 0, [0, 0, 0], [1, 0, 0]),      # death on day 0
    (30, True, 0, [1, 1, 1], [0, 0, 0]),     # death at the grid's end: past the grid, survived it all
    (35, False, 0, [1, 1, 1], [0, 0, 0]),    # censored after the grid
    (25, True, 12, [0, 1, 0], [0, 0, 1]),    # alive at day 12: interval 0 does not count
    (25, True, 10, [0, 1, 0], [0, 0, 1]),    # alive at exactly day 10
    (12, True, 12, [0, 0, 0], [0, 1, 0]),    # dies the day it was last seen
])
def test_likelihood_masks(time, event, entry, survived, failed):
    s, f = GRID.targets([time], [event], [entry])
    assert s[0].tolist() == survived and f[0].tolist() == failed


def test_likelihood_value_by_hand():
    h = np.array([0.1, 0.2, 0.3])
    logits = torch.logit(torch.tensor(h, dtype=torch.float64)).repeat(3, 1)
    s, f = GRID.targets([15, 15, 35], [True, False, False], [0, 0, 0])
    per_patient = [-(math.log(0.9) + math.log(0.2)), -(math.log(0.9) + math.log(0.8)),
                   -(math.log(0.9) + math.log(0.8) + math.log(0.7))]
    value = discrete_time_nll(logits, torch.tensor(s, dtype=torch.float64), torch.tensor(f, dtype=torch.float64))
    assert float(value) == pytest.approx(np.mean(per_patient), abs=1e-12)
    weighted = discrete_time_nll(logits, torch.tensor(s, dtype=torch.float64), torch.tensor(f, dtype=torch.float64),
                                 weight=torch.tensor([1.0, 0.0, 3.0], dtype=torch.float64))
    assert float(weighted) == pytest.approx((per_patient[0] + 3 * per_patient[2]) / 4, abs=1e-12)
    # Extreme logits stay finite.
    huge = torch.tensor([[80.0, -80.0, 80.0]])
    assert torch.isfinite(discrete_time_nll(huge, torch.tensor(s[:1]), torch.tensor(f[:1])))


def test_bad_times_are_refused():
    with pytest.raises(InputError, match="before the day"):
        GRID.targets([5], [True], [8])
    with pytest.raises(InputError):
        GRID.targets([float("nan")], [True], [0])
    with pytest.raises(InputError):
        TimeGrid((1.0, 2.0))


def test_curve_median_and_conditional_by_hand():
    h = np.array([0.1, 0.2, 0.3])
    assert GRID.survival(h).tolist() == pytest.approx([1, 0.9, 0.72, 0.504])
    # Alive at day 15: interval 0 does not count, half of interval 1 does.
    assert GRID.survival(h, alive_at=15).tolist() == pytest.approx([1, 1, 0.8 ** 0.5, 0.8 ** 0.5 * 0.7])
    assert GRID.survival_at(h, [5, 15, 40]).tolist() == pytest.approx([0.9 ** 0.5, 0.9 * 0.8 ** 0.5, 0.504])
    assert GRID.survival_at(h, [14], alive_at=15).tolist() == [1.0]
    assert math.isnan(GRID.quantile_time(h))  # never falls to 0.5 on the grid: "not reached"
    steep = np.array([0.1, 0.5, 0.5])
    median = 10 + 10 * math.log(0.5 / 0.9) / math.log(0.5)
    assert float(GRID.quantile_time(steep)) == pytest.approx(median)
    assert float(GRID.survival_at(steep, [median])[0]) == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(5))
def test_curves_monotone_bounded_and_banded_for_any_input(seed):
    rng = np.random.default_rng(seed)
    grid = TimeGrid.uniform(1826.25, 30)
    members = rng.uniform(0, 1, size=(5, 40, 30)) ** rng.uniform(0.3, 8)
    members[:, 0] = 0.0  # a patient with no hazard at all
    members[:, 1] = 1.0  # and one certain to die at once
    alive_at = rng.uniform(0, 2000, size=40)
    c = curves_from_hazards(grid, members, alive_at, {"z": 1.645, "low": -0.7, "high": 0.4})
    assert np.all(np.diff(c.survival, axis=-1) <= 1e-12)
    assert np.all((c.survival >= 0) & (c.survival <= 1))
    assert np.all(c.lower <= c.survival + 1e-12) and np.all(c.survival <= c.upper + 1e-12)
    assert np.all((c.lower >= 0) & (c.upper <= 1))
    edges = grid.array
    assert np.all(c.survival[edges[None, :] <= alive_at[:, None]] == 1.0)
    reached = ~np.isnan(c.median_days)
    assert np.all(c.median_days[reached] >= alive_at[reached] - 1e-9)
    assert np.all(c.risk >= 0)


def test_band_widens_with_disagreement_and_residual_offsets_and_is_one_where_certain():
    curve = np.array([1.0, 0.8, 0.6, 0.4])
    agree = np.stack([curve] * 5)
    lower, upper = ensemble_band(curve, agree)
    assert lower.tolist() == pytest.approx(curve.tolist()) and upper.tolist() == pytest.approx(curve.tolist())
    spread = np.stack([curve ** f for f in (0.6, 0.8, 1.0, 1.25, 1.6)])
    lower, upper = ensemble_band(curve, spread)
    assert lower[0] == upper[0] == 1.0
    assert np.all(lower[1:] < curve[1:]) and np.all(upper[1:] > curve[1:])
    # Offsets widen it on their own side: a positive high lowers the lower bound only.
    shifted_lower, same_upper = ensemble_band(curve, spread, high=0.5)
    assert np.all(shifted_lower[1:] < lower[1:]) and same_upper.tolist() == pytest.approx(upper.tolist())
    # By hand, without spread: S^exp(high) and S^exp(low).
    lower, upper = ensemble_band(curve, agree, low=-1.0, high=0.5)
    assert lower[2] == pytest.approx(0.6 ** np.exp(0.5)) and upper[2] == pytest.approx(0.6 ** np.exp(-1.0))
    # Offsets of the wrong sign cannot move the band off the curve.
    lower, upper = ensemble_band(curve, agree, low=0.3, high=-0.2)
    assert lower.tolist() == pytest.approx(curve.tolist()) and upper.tolist() == pytest.approx(curve.tolist())


def test_band_setting_picks_the_input_kind_and_visit_group():
    from braintumorai.survival.band import band_setting

    band = {"z": 1.645, "offsets": {"images+segmentation": {"1": [-3.0, 1.0], "2": [-2.0, 0.8], "3": [-1.5, 0.5],
                                                            "4+": [-1.0, 0.4]},
                                    "covariates": {"1": [-4.0, 2.0], "2": [-3.5, 1.5], "3": [-3.0, 1.2],
                                                   "4+": [-2.5, 1.0]}}}
    assert band_setting(band, True, True, 1) == {"z": 1.645, "low": -3.0, "high": 1.0}
    assert band_setting(band, True, True, 7)["low"] == -1.0
    assert band_setting(band, False, False, 2)["high"] == 1.5
    assert band_setting(band, True, False, 3)["low"] == -3.0  # a kind not fitted: the widest fitted kind
    assert band_setting({}, True, True, 1) == {"z": 1.645, "low": 0.0, "high": 0.0}
