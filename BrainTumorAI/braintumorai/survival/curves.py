"""From the ensemble's hazards to what a clinician reads: the curve, its band, the median,
1- and 2-year survival and a risk score (numpy; shared by inference and evaluation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .band import UNFITTED, ensemble_band
from .time_grid import TimeGrid

ONE_YEAR_DAYS = 365.25


@dataclass
class Curves:
    """Survival read from member hazards ``(M, ..., J)`` given alive at ``alive_at`` (days since
    the first visit). Arrays have the leading shape ``...`` of the hazards after the member axis.

    Attributes:
        survival, lower, upper: ``(..., J + 1)`` at the grid's edges.
        median_days: day (since the first visit) where S falls to 0.5; NaN if not reached.
        survival_1y, survival_2y: S at 365.25 and 730.5 days since the first visit.
        risk: ``-log S`` at the grid's end: the expected number of deaths-worth of hazard still
            ahead over the grid (higher = worse).
        hazards: the ensemble's mean hazards ``(..., J)``.
    """

    survival: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    median_days: np.ndarray
    survival_1y: np.ndarray
    survival_2y: np.ndarray
    risk: np.ndarray
    hazards: np.ndarray


def curves_from_hazards(grid: TimeGrid, member_hazards, alive_at=0.0, band: Mapping | None = None) -> Curves:
    """The ensemble's prediction: mean hazard per interval (its curve is the point
    estimate), each member's curve for the band (``band``: ``{"z", "low", "high"}`` from
    :func:`~braintumorai.survival.band.band_setting`, numbers or arrays broadcasting against
    the curves; None: the members' spread alone)."""
    member_hazards = np.asarray(member_hazards, float)
    hazards = member_hazards.mean(axis=0)
    survival = grid.survival(hazards, alive_at)
    members = grid.survival(member_hazards, alive_at)
    band = dict(band or {"z": UNFITTED["z"], "low": 0.0, "high": 0.0})
    lower, upper = ensemble_band(survival, members, band["z"], band["low"], band["high"])
    years = grid.survival_at(hazards, [ONE_YEAR_DAYS, 2 * ONE_YEAR_DAYS], alive_at)
    return Curves(survival=survival, lower=lower, upper=upper,
                  median_days=grid.quantile_time(hazards, alive_at, 0.5),
                  survival_1y=years[..., 0], survival_2y=years[..., 1],
                  risk=-np.log(np.clip(survival[..., -1], 1e-12, 1.0)), hazards=hazards)
