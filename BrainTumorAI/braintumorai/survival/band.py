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

import numpy as np

UNFITTED = {"q": 1.645, "s0": 0.0}


def cloglog(survival) -> np.ndarray:
    """``log(-log S)``, finite for S in (0, 1) (clipped away from 0 and 1)."""
    s = np.clip(np.asarray(survival, float), 1e-12, 1.0 - 1e-12)
    return np.log(-np.log(s))


def member_spread(member_curves) -> np.ndarray:
    """Standard deviation over members (axis 0) of their curves on the cloglog scale."""
    return cloglog(member_curves).std(axis=0)


def ensemble_band(curve, member_curves, q: float, s0: float) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` around ``curve (..., T)`` from ``member_curves (M, ..., T)``."""
    curve = np.asarray(curve, float)
    width = q * (member_spread(member_curves) + s0)
    centre = cloglog(curve)
    lower = np.exp(-np.exp(centre + width))
    upper = np.exp(-np.exp(centre - width))
    certain = curve >= 1.0 - 1e-12  # before the day the patient was last seen alive
    lower = np.where(certain, 1.0, np.minimum(lower, curve))
    upper = np.where(certain, 1.0, np.maximum(upper, curve))
    return lower, upper
