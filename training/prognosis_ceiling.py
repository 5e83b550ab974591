"""How well could any model rank phantom patients from what their visits show by a landmark?

    python training/prognosis_ceiling.py [--patients 500] [--seed 2] [--noise 0.1]

For each patient alive at the landmark, the generator's own growth law is inverted: the
hidden growth rate and treatment response (standard normal a priori) are read from the
exact tumour-core volumes of the visits up to the landmark (measured with ``--noise`` relative
error) on a grid of values, and their posterior means replace the true ones in the patient's
risk; type, baseline volume, age, KPS and the extent of resection are taken as known. The
C-index of that risk is the ceiling a model reading the visits can approach; the oracle (true
risk) and the first-visit risk are printed beside it, on the same patients.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "BrainTumorAI"))

from braintumorai.synthetic import longitudinal as law  # noqa: E402

GRID = np.linspace(-3, 3, 21)


def posterior_traits(patient, landmark: float, noise: float) -> tuple[float, float]:
    """Posterior means of (z_growth, z_response) given the core volumes up to ``landmark``."""
    visits = [v for v in patient.visits if v.day <= landmark]
    if len(visits) < 2:
        return 0.0, 0.0
    model, params = law.TYPE_MODEL[patient.label], patient.params
    days = [v.day for v in visits]
    observed = np.log([v.tumour_volume_ml for v in visits])
    log_posterior = np.zeros((len(GRID), len(GRID)))
    for i, growth in enumerate(GRID):
        for j, response in enumerate(GRID):
            events = [dict(e, kill=e["kill"] / params["response"] * np.exp(0.6 * response)) if "kill" in e else e
                      for e in patient.treatment_events]
            predicted = np.log(law.volume_at(days, params["v0_ml"], model["alpha"] * np.exp(0.5 * growth),
                                             model["capacity"], events))
            log_posterior[i, j] = -np.sum((observed - predicted) ** 2) / (2 * noise ** 2) - (growth ** 2 + response ** 2) / 2
    weights = np.exp(log_posterior - log_posterior.max())
    weights /= weights.sum()
    return float((weights.sum(1) * GRID).sum()), float((weights.sum(0) * GRID).sum())


def main(argv=None) -> int:
    from lifelines.utils import concordance_index

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--noise", type=float, default=0.1, help="relative error of a measured volume (default 0.1)")
    parser.add_argument("--landmarks", default="0,182.625,365.25", help="days, comma-separated")
    args = parser.parse_args(argv)
    patients = law.generate_cohort(args.patients, seed=args.seed, with_case_params=False)
    w = law.RISK_WEIGHTS
    print("| landmark (days) | patients | ceiling C | oracle C | first-visit C |\n|---|---|---|---|---|")
    for landmark in (float(d) for d in args.landmarks.split(",")):
        rows = []
        for p in patients:
            if p.survival_days <= landmark:
                continue
            growth, response = posterior_traits(p, landmark, args.noise)
            known = p.true_risk - w["growth"] * p.params["z_growth"] - w["response"] * p.params["z_response"]
            rows.append((p.survival_days, p.event, known + w["growth"] * growth + w["response"] * response,
                         p.true_risk, p.first_visit_risk))
        t, e, ceiling, oracle, first = map(np.array, zip(*rows))
        c = [concordance_index(t, -r, e) for r in (ceiling, oracle, first)]
        print(f"| {landmark:g} | {len(t)} | {c[0]:.3f} | {c[1]:.3f} | {c[2]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
