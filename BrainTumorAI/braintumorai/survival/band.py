"""The uncertainty band of a survival curve from an ensemble.

Each ensemble member gives its own curve. On the complementary log-log scale,
``c(t) = log(-log S(t))``, a proportional-hazards shift of a patient's risk moves the whole
curve by one constant, so uncertainty about the patient's risk is a width on that scale:
the band is ``c*(t) -/+ q (s(t) + s0)`` around the ensemble curve ``c*``, where ``s(t)`` is
the members' spread at ``t`` and ``q``, ``s0`` are fitted on held-out patients so the band
holds their true survival probability as often as its nominal level says (phantoms, whose
true curve is known: see ``training/prognosis_band.py``). With ``q`` unfitted the band is
the members' spread alone (``q = 1.645``, ``s0 = 0``), which says how much the ensemble
disagrees, not how far a patient's true curve may lie. Either way it lies in [0, 1], is 1
where the curve is 1, and contains the curve.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

UNFITTED = {"q": 1.645, "s0": 0.0}
# How many visits a prediction has seen, in the groups the band is fitted for.
VISIT_GROUPS = ("1", "2", "3", "4+")


def input_kind(images: bool, compartments: bool) -> str:
    """What a prediction was made from: ``images+segmentation``, ``images``, ``segmentation``
    or ``covariates``."""
    return ("images+segmentation" if images and compartments else "images" if images else
            "segmentation" if compartments else "covariates")


def visit_group(visits: int) -> str:
    return VISIT_GROUPS[min(max(int(visits), 1), len(VISIT_GROUPS)) - 1]


def band_setting(band: Mapping, images: bool, compartments: bool, visits: int) -> dict:
    """``{"q", "s0"}`` from a card's band for a prediction made from ``visits`` visits of this
    input kind. A fitted band holds ``q`` per input kind and visit group (the band narrows as
    visits tell more about the patient), or one per kind; an unfitted one a single number."""
    q = band.get("q", UNFITTED["q"])
    if isinstance(q, Mapping):
        groups = {kind: value if isinstance(value, Mapping) else {g: value for g in VISIT_GROUPS}
                  for kind, value in q.items()}
        by_group = groups.get(input_kind(images, compartments))
        if by_group is None:  # a kind the band was not fitted for: the widest fitted one
            by_group = max(groups.values(), key=lambda values: max(values.values()))
        q = by_group.get(visit_group(visits), max(by_group.values()))
    return {"q": float(q), "s0": float(band.get("s0", UNFITTED["s0"]))}


def cloglog(survival) -> np.ndarray:
    """``log(-log S)``, finite for S in (0, 1) (clipped away from 0 and 1)."""
    s = np.clip(np.asarray(survival, float), 1e-12, 1.0 - 1e-12)
    return np.log(-np.log(s))


def member_spread(member_curves) -> np.ndarray:
    """Standard deviation over members (axis 0) of their curves on the cloglog scale."""
    return cloglog(member_curves).std(axis=0)


def ensemble_band(curve, member_curves, q, s0) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` around ``curve (..., T)`` from ``member_curves (M, ..., T)``; ``q`` and
    ``s0`` are numbers or arrays that broadcast against ``curve`` (one per patient: ``(N, 1)``)."""
    curve = np.asarray(curve, float)
    width = np.asarray(q, float) * (member_spread(member_curves) + np.asarray(s0, float))
    centre = cloglog(curve)
    lower = np.exp(-np.exp(centre + width))
    upper = np.exp(-np.exp(centre - width))
    certain = curve >= 1.0 - 1e-12  # before the day the patient was last seen alive
    lower = np.where(certain, 1.0, np.minimum(lower, curve))
    upper = np.where(certain, 1.0, np.maximum(upper, curve))
    return lower, upper
