"""The uncertainty band of a survival curve: the ensemble's disagreement, and how far a
patient's true curve lies from the prediction.

Each ensemble member gives its own curve. On the complementary log-log scale,
``c(t) = log(-log S(t))``, a proportional-hazards change of a patient's risk moves the whole
curve by one constant, so both parts of the band are widths on that scale around the
ensemble curve ``c*``:

    [c* + low - z s(t),  c* + high + z s(t)]

- ``s(t)``: the members' spread at ``t`` (model uncertainty; ``z = 1.645``);
- ``low <= 0 <= high``: how far the true curves of held-out patients lay from their
  predictions, as quantiles (fitted on phantoms, whose true curve is known:
  ``training/prognosis_band.py``), per kind of input and number of visits seen. They hold
  what no model can read from the visits (a phantom's hidden growth rate and treatment
  response, say), so they are wide after one visit and narrow as visits accumulate.

Unfitted (no true curves, e.g. a model trained on a real cohort) the band is the members'
spread alone, which says how much the ensemble disagrees, not how far a patient's true curve
may lie. Either way the band lies in [0, 1], is 1 where the curve is 1, and contains the curve.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

Z_SPREAD = 1.645
UNFITTED = {"z": Z_SPREAD, "offsets": {}}
# How many visits a prediction has seen, in the groups the band is fitted for.
VISIT_GROUPS = ("1", "2", "3", "4+")


def cloglog(survival) -> np.ndarray:
    """``log(-log S)``, finite for S in (0, 1) (clipped away from 0 and 1)."""
    s = np.clip(np.asarray(survival, float), 1e-12, 1.0 - 1e-12)
    return np.log(-np.log(s))


def member_spread(member_curves) -> np.ndarray:
    """Standard deviation over members (axis 0) of their curves on the cloglog scale."""
    return cloglog(member_curves).std(axis=0)


def input_kind(images: bool, compartments: bool) -> str:
    """What a prediction was made from: ``images+segmentation``, ``images``, ``segmentation``
    or ``covariates``."""
    return ("images+segmentation" if images and compartments else "images" if images else
            "segmentation" if compartments else "covariates")


def visit_group(visits: int) -> str:
    return VISIT_GROUPS[min(max(int(visits), 1), len(VISIT_GROUPS)) - 1]


def band_setting(band: Mapping, images: bool, compartments: bool, visits: int) -> dict:
    """``{"z", "low", "high"}`` from a card's band for a prediction made from ``visits`` visits
    of this input kind; a kind the band was not fitted for takes the widest fitted kind."""
    offsets = band.get("offsets") or {}
    low, high = 0.0, 0.0
    if offsets:
        by_group = offsets.get(input_kind(images, compartments))
        if by_group is None:
            by_group = max(offsets.values(), key=lambda groups: max(h - l for l, h in groups.values()))
        low, high = by_group.get(visit_group(visits), by_group[VISIT_GROUPS[0]])
    return {"z": float(band.get("z", Z_SPREAD)), "low": float(low), "high": float(high)}


def ensemble_band(curve, member_curves, z=Z_SPREAD, low=0.0, high=0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` around ``curve (..., T)`` from ``member_curves (M, ..., T)``; ``z``,
    ``low``, ``high`` are numbers or arrays broadcasting against ``curve`` (``(N, 1)`` per patient)."""
    curve = np.asarray(curve, float)
    spread = np.asarray(z, float) * member_spread(member_curves)
    centre = cloglog(curve)
    lower = np.exp(-np.exp(centre + np.maximum(high, 0.0) + spread))
    upper = np.exp(-np.exp(centre + np.minimum(low, 0.0) - spread))
    certain = curve >= 1.0 - 1e-12  # before the day the patient was last seen alive
    lower = np.where(certain, 1.0, np.minimum(lower, curve))
    upper = np.where(certain, 1.0, np.maximum(upper, curve))
    return lower, upper
