"""What treatment leaves in a follow-up scan: resection cavity and treatment-related change.

A longitudinal patient's visit (:meth:`SyntheticPatient.case`) is rendered with the
appearance of the treatments received by then, so a classifier trained or tested on
follow-up visits sees what a treated tumour looks like:

- **Surgery**: a resection cavity at the largest lesion, filled with fluid (CSF-like,
  a little brighter on FLAIR from protein), of the resected volume, collapsing
  slowly over months. The remaining and regrowing tumour is the shell around it, so a
  recurrence shows at the cavity's margin (a thin enhancing rim for an enhancing tumour).
- **Radiotherapy**: treatment-related white-matter change in the radiation field
  (T2/FLAIR hyperintense white matter, the ``wmh`` contrast of the phantoms) that
  appears over months; the field is the tumour plus a margin (15-25 mm for gliomas and
  lymphoma, a few mm for radiosurgery of metastases).
- **Chemotherapy** (and the steroids given with it): weaker enhancement, lower PET
  uptake and less oedema while it acts.

Everything is drawn once per patient from its own seed stream, so the same patient
looks the same at every call and the plain (first-visit) phantom does not change.
"""

from __future__ import annotations

import numpy as np

from .tumours import _lobes

# Cavity fluid per modality (MRI relative to white matter, CT in HU, PET in SUV).
CAVITY_CONTRAST = {"T1": (0.3, 0.5), "T1C": (0.3, 0.5), "T2": (3.0, 4.2), "FLAIR": (0.35, 0.9), "CT": (4.0, 18.0),
                   "PET": (0.3, 0.8)}
# Radiation-field margin around the tumour (mm) per type.
RADIATION_MARGIN_MM = {"glioblastoma": (15.0, 25.0), "lower_grade_glioma": (10.0, 20.0), "metastasis": (2.0, 6.0),
                       "meningioma": (3.0, 10.0), "lymphoma": (15.0, 25.0)}


def draw_course_appearance(seed: int, label: str) -> dict:
    """Per-patient constants of the post-treatment appearance (JSON-serialisable)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 13]))
    return {
        "cavity_lobes": _lobes(rng, 0.12),
        "cavity_contrast": {m: float(rng.uniform(*r)) for m, r in CAVITY_CONTRAST.items()},
        "cavity_collapse": float(rng.uniform(0.1, 0.35)),      # share of the radius lost over months
        "radiation_margin_mm": float(rng.uniform(*RADIATION_MARGIN_MM[label])),
        "radiation_strength": float(rng.uniform(0.3, 0.9)),   # final share of white matter changed
        "radiation_onset_days": float(rng.uniform(60.0, 300.0)),
        "enhancement_response": float(rng.uniform(0.1, 0.5)),  # enhancement lost under chemotherapy
        "oedema_response": float(rng.uniform(0.0, 0.35)),
    }


def visit_appearance(patient, visit) -> dict | None:
    """The ``treatment`` argument of :func:`~braintumorai.synthetic.generate_case` for one
    visit of a :class:`~braintumorai.synthetic.SyntheticPatient`; None before any treatment."""
    from .longitudinal import volume_at

    events = {e["name"]: e for e in patient.treatment_events if e["start"] <= visit.day}
    if not events or not patient.case_params:
        return None
    look = draw_course_appearance(patient.seed, patient.label)
    lesions = patient.case_params["tumour"]["lesions"]
    main = int(np.argmax([les["radius_mm"] for les in lesions]))
    params = patient.params
    out: dict = {"cavity": None, "radiation": None, "enhancement_factor": 1.0, "oedema_factor": 1.0,
                 "contrast": {m: {"cavity": v} for m, v in look["cavity_contrast"].items()}}
    surgery = events.get("surgery")
    scale_before = 1.0
    if surgery:
        before = volume_at([surgery["start"] - 0.01], params["v0_ml"], params["alpha_per_day"],
                           params["capacity_ml"], patient.treatment_events)[0]
        scale_before = float((before / params["v0_ml"]) ** (1.0 / 3.0))
        since = visit.day - surgery["start"]
        collapse = 1.0 - look["cavity_collapse"] * (1.0 - np.exp(-since / 120.0))
        radius = lesions[main]["radius_mm"] * scale_before * surgery["resected"] ** (1.0 / 3.0) * collapse
        out["cavity"] = {"lesion": main, "radius_mm": float(radius), "lobes": look["cavity_lobes"]}
    radiation = events.get("radiotherapy")
    if radiation:
        ramp = np.clip((visit.day - radiation["start"]) / look["radiation_onset_days"], 0.0, 1.0)
        out["radiation"] = {"lesion": main, "strength": float(look["radiation_strength"] * ramp),
                            "radius_mm": float(lesions[main]["radius_mm"] * scale_before
                                               + look["radiation_margin_mm"])}
    chemo = events.get("chemotherapy")
    if chemo:
        acting = float(np.clip((visit.day - chemo["start"]) / 60.0, 0.0, 1.0))
        out["enhancement_factor"] = float(1.0 - look["enhancement_response"] * acting)
        out["oedema_factor"] = float(1.0 - look["oedema_response"] * acting)
    return out


def treated_contrast(contrast: dict, treatment: dict) -> dict:
    """The case's contrast table with the cavity fluid added and, under chemotherapy, the
    enhancement on T1C and the tumour's PET uptake pulled towards the unenhanced values."""
    out = {m: dict(values, cavity=treatment["contrast"][m]["cavity"]) for m, values in contrast.items()}
    f = treatment["enhancement_factor"]
    if f < 1.0:
        out["T1C"]["enhancing"] = contrast["T1"]["enhancing"] + f * (contrast["T1C"]["enhancing"]
                                                                     - contrast["T1"]["enhancing"])
        for name in ("enhancing", "non_enhancing"):
            out["PET"][name] = contrast["PET"]["wm"] + f * (contrast["PET"][name] - contrast["PET"]["wm"])
    return out


def radiation_change(wmh, axes, centre, radiation: dict) -> np.ndarray:
    """White-matter change in the radiation field (fraction of white matter, z y x), added
    to ``wmh`` (the small-vessel lesions, or None): ``strength`` inside ``radius_mm`` of
    ``centre``, fading over 10 mm."""
    x, y, z = axes
    d = np.sqrt((z - centre[2])[:, None, None] ** 2 + (y - centre[1])[None, :, None] ** 2
                + (x - centre[0])[None, None, :] ** 2)
    change = np.float32(radiation["strength"]) * np.clip((radiation["radius_mm"] - d) / 10.0 + 0.5, 0.0, 1.0)
    return change.astype(np.float32) if wmh is None else np.maximum(wmh, change)
