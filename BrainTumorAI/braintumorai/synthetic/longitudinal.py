"""Longitudinal synthetic patients: visits, treatments, tumour growth and survival.

Growth: Gompertz in the tumour-core volume V (mL) with a type-specific rate and
carrying capacity, written for ``u = ln(K / V)`` as ``du/dt = -alpha u + kappa(t)``:
``alpha`` is the patient's growth rate (type rate times ``exp(0.5 z_growth)``), ``kappa``
the kill rate of the treatments running at time t (type rate times
``exp(0.6 z_response)``). Surgery removes a fraction (extent of resection) at once.
Each piece has a closed form, so volumes at any day cost nothing.

Survival: Weibull proportional hazards, ``S(t) = exp(-(t / 1500 d)^1.2 exp(risk))`` (plus 30 days), with
``risk`` (the true risk) driven by type, baseline tumour burden (log V0), age, KPS, the
hidden growth rate and treatment response, and the extent of resection. Censoring is
administrative (end of study, 1 to 7 years after entry) or loss to follow-up.
The first visit (day 0, diagnosis, before any treatment) shows type, V0, age, sex and
KPS only; the growth rate and the response show only in the later volumes, so a model
that reads the trajectory can beat one that reads the first visit (see
``cohort_concordance``: oracle C-index 0.83 to 0.86, first-visit best 0.74 to 0.76 on
1000-patient cohorts).

Visits: 2 to 8 planned, day 0 and then irregular follow-ups (the first 20 to 60 days
after diagnosis, then about every three months, log-normal gaps). The schedule is drawn
independently of the outcome, and a visit planned after death or the end of follow-up
does not happen, so a patient has 1 to 8 visits and their spacing says nothing about the
survival time (only that the patient was alive at each). Asking for exactly ``n_visits``
draws the outcome given survival past the last planned visit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..modalities import MODALITIES
from ..survival.visit_features import TREATMENTS
from .tumours import TUMOUR_CLASSES

# Per type: Gompertz growth rate (1/day), capacity (mL), kill rates (1/day) of RT and chemo,
# treatment probabilities, risk offset, age (mean, sd).
TYPE_MODEL = {
    "glioblastoma": dict(alpha=0.006, capacity=250.0, k_rt=0.03, k_chemo=0.008, p_surgery=0.9, p_rt=0.95,
                         p_chemo=0.9, risk=0.8, age=(62, 11)),
    "lower_grade_glioma": dict(alpha=0.0008, capacity=200.0, k_rt=0.01, k_chemo=0.003, p_surgery=0.85,
                               p_rt=0.5, p_chemo=0.5, risk=-1.3, age=(41, 12)),
    "metastasis": dict(alpha=0.005, capacity=120.0, k_rt=0.05, k_chemo=0.006, p_surgery=0.4, p_rt=0.95,
                       p_chemo=0.6, risk=1.0, age=(61, 11)),
    "meningioma": dict(alpha=0.0004, capacity=150.0, k_rt=0.01, k_chemo=0.0, p_surgery=0.8, p_rt=0.2,
                       p_chemo=0.0, risk=-2.2, age=(58, 13)),
    "lymphoma": dict(alpha=0.007, capacity=150.0, k_rt=0.03, k_chemo=0.02, p_surgery=0.05, p_rt=0.3,
                     p_chemo=0.95, risk=0.2, age=(63, 11)),
}
RISK_WEIGHTS = dict(log_v0=0.35, age_per_decade=0.3, kps_per_10=-0.25, growth=0.9, response=-0.8,
                    resection=-0.8)
WEIBULL_SCALE_DAYS = 1500.0
WEIBULL_SHAPE = 1.2
MISSING_P = {"age": 0.05, "sex": 0.05, "kps": 0.2}


@dataclass
class Visit:
    """One visit: day since baseline, treatments received so far, tumour-core volume (mL).

    ``scale`` multiplies the lesion radii of the patient's phantom for this visit.
    """

    index: int
    day: int
    treatments: tuple
    tumour_volume_ml: float
    scale: float


@dataclass
class SyntheticPatient:
    """A longitudinal patient. ``case(k)`` renders the images of visit k on demand.

    ``true_risk``: the log hazard ratio that generated the survival time;
    ``first_visit_risk``: its expectation given only what the first visit shows.
    Clinical covariates may be None (missing).
    """

    seed: int
    label: str
    age: float | None
    sex: str | None
    kps: int | None
    visits: list
    survival_days: int
    event: bool
    true_risk: float
    first_visit_risk: float
    treatment_events: list
    params: dict = field(repr=False, default_factory=dict)
    case_params: dict = field(repr=False, default_factory=dict)

    def case(self, visit: int, modalities=MODALITIES, spacing=2.0, **options):
        """The SyntheticCase of visit ``visit``: tumour scaled to that visit's volume, with
        the appearance of the treatments received by then (resection cavity,
        treatment-related change; :mod:`~braintumorai.synthetic.treatment`). ``options``
        go to :func:`~braintumorai.synthetic.generate_case` (``head_mm``, ``atrophy``)."""
        from .case import generate_case
        from .treatment import visit_appearance

        v = self.visits[visit]
        noise_seed = int(np.random.SeedSequence([self.seed, 7919, visit]).generate_state(1)[0])
        return generate_case(self.label, seed=self.seed, modalities=modalities, spacing=spacing,
                             tumour_scale=v.scale, noise_seed=noise_seed, params=self.case_params,
                             treatment=visit_appearance(self, v), **options)

    def true_survival(self, days, alive_at: float = 0.0):
        """The generator's S(t | T > alive_at) for this patient at ``days`` since the first visit."""
        return survival_probability(days, self.true_risk, alive_at)

    def to_dict(self) -> dict:
        """JSON-serialisable summary (no images)."""
        return {
            "seed": self.seed, "label": self.label, "age": self.age, "sex": self.sex, "kps": self.kps,
            "survival_days": self.survival_days, "event": self.event, "true_risk": self.true_risk,
            "first_visit_risk": self.first_visit_risk, "treatment_events": self.treatment_events,
            "visits": [{"day": v.day, "treatments": list(v.treatments), "tumour_volume_ml": v.tumour_volume_ml}
                       for v in self.visits],
        }


def volume_at(days, v0: float, alpha: float, capacity: float, events: list) -> np.ndarray:
    """Tumour-core volume (mL) at ``days`` under the Gompertz law with treatment ``events``.

    events: dicts ``{"name", "start", "end", "kill"}`` (kill rate 1/day while running) and
    surgery as ``{"name": "surgery", "start", "end": start, "resected": fraction}``.
    """
    days = np.atleast_1d(np.asarray(days, float))
    cuts = sorted({0.0, *[float(e["start"]) for e in events], *[float(e["end"]) for e in events]})
    out = np.empty_like(days)
    for i, d in enumerate(days):
        u = np.log(capacity / v0)
        t = 0.0
        for c in cuts + [np.inf]:
            stop = min(c, d)
            if stop > t:
                kappa = sum(e.get("kill", 0.0) for e in events if e["start"] <= t < e["end"])
                u = kappa / alpha + (u - kappa / alpha) * np.exp(-alpha * (stop - t))
                t = stop
            if c > d:
                break
            for e in events:
                if e["name"] == "surgery" and e["start"] == c and c <= d:
                    u -= np.log(1.0 - e["resected"])
        out[i] = capacity * np.exp(-u)
    return out


def _int_seed(*parts) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def generate_patient(seed: int, n_visits: int | None = None, label: str | None = None, *,
                     treatments: bool = True, with_case_params: bool = True) -> SyntheticPatient:
    """Draw one longitudinal patient.

    seed: makes the patient (same seed, same patient). n_visits: 2..8 visits, all of
    them seen (the outcome is drawn given survival past the last); None draws 2..8
    planned visits and keeps those before the event or censoring time. label: a tumour type (``no_tumor`` has no course to follow) or None to draw it.
    treatments: False gives the untreated natural history (same patient otherwise).
    with_case_params: False skips the phantom parameters (faster, for cohort figures);
    the baseline volume is then drawn from the same type distribution directly.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    if label is None:
        label = TUMOUR_CLASSES[int(rng.integers(len(TUMOUR_CLASSES)))]
    if label not in TUMOUR_CLASSES:
        raise InputError(f"Longitudinal patients need a tumour type, not {label!r}; use one of "
                         f"{', '.join(TUMOUR_CLASSES)}.")
    explicit = n_visits is not None
    if explicit and not 2 <= int(n_visits) <= 8:
        raise InputError(f"n_visits={n_visits} is out of range; use 2 to 8 visits.")
    planned = int(n_visits) if explicit else int(rng.integers(2, 9))
    model = TYPE_MODEL[label]

    case_params = {}
    if with_case_params:
        from .case import sample_case_params

        case_params = sample_case_params(label, seed)
        v0 = max(case_params["core_volume_ml"], 0.05)
    else:
        v0 = float(np.exp(rng.normal(*_LOG_V0[label])))
    # Hidden traits: growth aggressiveness and treatment response (standard normal).
    z_growth, z_response = rng.standard_normal(2)
    alpha = model["alpha"] * float(np.exp(0.5 * z_growth))
    response = float(np.exp(0.6 * z_response))

    age = float(np.clip(rng.normal(*model["age"]), 18, 90))
    sex = "F" if rng.random() < (0.6 if label == "meningioma" else 0.45) else "M"
    kps_raw = 90 - 4.0 * (age - 55) / 10 - 3.0 * np.log(v0 / 10.0) + rng.normal(0, 8)
    kps = int(np.clip(np.round(kps_raw / 10.0) * 10, 40, 100))

    events: list[dict] = []
    surgery_day = None
    resected = 0.0
    if rng.random() < model["p_surgery"]:
        surgery_day = int(rng.integers(5, 21))
        resected = float(rng.uniform(0.5, 0.99))
        events.append({"name": "surgery", "start": surgery_day, "end": surgery_day, "resected": resected})
    start = (surgery_day or 0) + int(rng.integers(14, 36))
    if rng.random() < model["p_rt"]:
        length = 5 if label == "metastasis" else 42
        events.append({"name": "radiotherapy", "start": start, "end": start + length,
                       "kill": model["k_rt"] * response * (6.0 if length == 5 else 1.0)})
    if model["p_chemo"] > 0 and rng.random() < model["p_chemo"]:
        length = 120 if label == "lymphoma" else 180
        events.append({"name": "chemotherapy", "start": start, "end": start + length,
                       "kill": model["k_chemo"] * response})

    w = RISK_WEIGHTS
    resection_c = resected - _MEAN_RESECTION[label]
    base = (model["risk"] + w["log_v0"] * np.log(v0 / 10.0) + w["age_per_decade"] * (age - 55) / 10
            + w["kps_per_10"] * (kps - 80) / 10)
    true_risk = float(base + w["growth"] * z_growth + w["response"] * z_response + w["resection"] * resection_c)

    # What the first visit shows: type, V0, and the covariates that are not missing.
    missing = {k: rng.random() < p for k, p in MISSING_P.items()}
    age_seen = None if missing["age"] else round(age, 1)
    kps_seen = None if missing["kps"] else kps
    first = model["risk"] + w["log_v0"] * np.log(v0 / 10.0)
    first += w["age_per_decade"] * ((age if age_seen is not None else model["age"][0]) - 55) / 10
    if kps_seen is not None:
        first += w["kps_per_10"] * (kps - 80) / 10
    else:
        first += w["kps_per_10"] * (_expected_kps(model["age"][0], v0) - 80) / 10

    # The visit schedule is planned before, and independently of, the outcome: a model must
    # not be able to read the survival time from how the visits are spaced.
    gaps = [rng.uniform(20, 60)] + list(np.exp(rng.normal(np.log(90.0), 0.4, planned - 2)))
    day_ints = [0]
    for d in np.cumsum(gaps):
        day_ints.append(max(int(round(d)), day_ints[-1] + 1))

    t_event = 30.0 + WEIBULL_SCALE_DAYS * (-np.log(rng.random()) * np.exp(-true_risk)) ** (1 / WEIBULL_SHAPE)
    t_censor = min(rng.uniform(365, 2555), rng.exponential(4000.0))
    if explicit and min(t_event, t_censor) <= day_ints[-1] + 1:
        # Asked for exactly n_visits: draw the outcome given that the patient is alive and
        # followed at the last planned visit (exact conditional draws, no rejection loop).
        t_event, t_censor = _outcome_after(day_ints[-1] + 1, true_risk, t_event, t_censor,
                                           np.random.default_rng(np.random.SeedSequence([seed, 5])))
    # At least one day: every patient has the diagnosis visit (day 0), then may be lost at once.
    observed = max(int(min(t_event, t_censor)), 1)
    event = bool(t_event <= t_censor)
    # No scan after death or the end of follow-up.
    day_ints = [d for d in day_ints if d < observed]

    used = events if treatments else []
    volumes = volume_at(day_ints, v0, alpha, model["capacity"], used)
    visits = []
    for k, (d, vol) in enumerate(zip(day_ints, volumes)):
        given = tuple(e["name"] for e in used if e["start"] <= d)
        visits.append(Visit(index=k, day=int(d), treatments=given, tumour_volume_ml=float(vol),
                            scale=float((vol / v0) ** (1.0 / 3.0))))
    params = {"alpha_per_day": alpha, "capacity_ml": model["capacity"], "z_growth": float(z_growth),
              "z_response": float(z_response), "response": response, "v0_ml": v0, "resected": resected,
              "t_event_days": float(t_event), "t_censor_days": float(t_censor), "treated": bool(treatments)}
    return SyntheticPatient(seed=seed, label=label, age=age_seen, sex=None if missing["sex"] else sex,
                            kps=kps_seen, visits=visits, survival_days=observed, event=event,
                            true_risk=true_risk, first_visit_risk=float(first), treatment_events=used,
                            params=params, case_params=case_params)


def _outcome_after(day: float, risk: float, t_event: float, t_censor: float,
                   rng: np.random.Generator) -> tuple[float, float]:
    """Event and censoring times drawn given that both exceed ``day`` (the Weibull by its
    cumulative hazard, H(T) = H(day) + Exp(1); the censoring clocks by their own laws)."""
    if t_event <= day:
        h_day = (max(day - 30.0, 0.0) / WEIBULL_SCALE_DAYS) ** WEIBULL_SHAPE * np.exp(risk)
        h = h_day + rng.exponential(1.0)
        t_event = 30.0 + WEIBULL_SCALE_DAYS * (h * np.exp(-risk)) ** (1 / WEIBULL_SHAPE)
    if t_censor <= day:
        end_of_study = rng.uniform(max(365.0, day), max(2555.0, day + 1.0))
        t_censor = min(end_of_study, day + rng.exponential(4000.0))
    return float(t_event), float(t_censor)


def survival_probability(days, risk: float, alive_at: float = 0.0) -> np.ndarray:
    """True S(t | T > alive_at) of a patient with log hazard ratio ``risk``, at ``days``
    since the first visit (the generator's Weibull law; 1 before ``alive_at``)."""
    days = np.asarray(days, float)

    def cumulative_hazard(t):
        return (np.maximum(np.asarray(t, float) - 30.0, 0.0) / WEIBULL_SCALE_DAYS) ** WEIBULL_SHAPE * np.exp(risk)

    return np.where(days <= alive_at, 1.0, np.exp(-(cumulative_hazard(days) - cumulative_hazard(alive_at))))


def _expected_kps(age: float, v0: float) -> float:
    return 90 - 4.0 * (age - 55) / 10 - 3.0 * np.log(v0 / 10.0)


# Mean extent of resection per type (probability of surgery times mean resected fraction 0.745).
_MEAN_RESECTION = {k: v["p_surgery"] * 0.745 for k, v in TYPE_MODEL.items()}
# log-normal baseline core volume (mL) per type, matched to the phantom geometry (fast path).
_LOG_V0 = {"glioblastoma": (np.log(47.0), 0.64), "lower_grade_glioma": (np.log(44.0), 0.82),
           "metastasis": (np.log(8.2), 1.2), "meningioma": (np.log(20.0), 0.75), "lymphoma": (np.log(23.0), 0.7)}


def generate_cohort(n_patients: int, seed: int = 0, labels=None, n_visits: int | None = None,
                    with_case_params: bool = True) -> list:
    """``n_patients`` patients, types drawn uniformly from ``labels`` (default: all tumour types)."""
    labels = tuple(labels) if labels else TUMOUR_CLASSES
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    picks = rng.integers(len(labels), size=n_patients)
    return [generate_patient(_int_seed(seed, 3, i), n_visits=n_visits, label=labels[int(picks[i])],
                             with_case_params=with_case_params) for i in range(n_patients)]


def cohort_concordance(patients=None, n_patients: int = 1000, seed: int = 0) -> dict:
    """Oracle C-index of the true risk and C-index of the best first-visit risk.

    Computed with ``lifelines.utils.concordance_index`` (higher score = longer survival,
    so minus the risk is passed). Without ``patients``, a parameters-only cohort of
    ``n_patients`` is drawn (no images, under a second for 1000 patients).
    """
    from lifelines.utils import concordance_index

    if patients is None:
        patients = generate_cohort(n_patients, seed, with_case_params=False)
    t = np.array([p.survival_days for p in patients], float)
    e = np.array([p.event for p in patients], bool)
    oracle = concordance_index(t, -np.array([p.true_risk for p in patients]), e)
    first = concordance_index(t, -np.array([p.first_visit_risk for p in patients]), e)
    return {"oracle": float(oracle), "first_visit": float(first), "n_patients": len(patients),
            "event_rate": float(e.mean())}
