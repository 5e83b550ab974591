"""Writing synthetic patients to disk in the BraTS-2023-style layout with a manifest,
so phantoms and real cohorts go through the same loader."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ..datasets import VisitRecord, visit_case_id, write_case
from ..modalities import MODALITIES
from .case import generate_case
from .longitudinal import generate_patient
from .tumours import TUMOUR_CLASSES

# Days between the visits of a tumour-free "patient" (no disease course to follow).
NO_TUMOUR_VISIT_GAP_DAYS = 180


def write_synthetic_patient(out_dir: os.PathLike, patient_id: str, seed: int, label: str | None = None,
                            n_visits: int | None = None, modalities: Sequence[str] = MODALITIES,
                            spacing: float = 2.0, progress=None) -> list[VisitRecord]:
    """Generate one patient and write every visit as ``out_dir/PATIENT-TTT/...``.

    Tumour types get a longitudinal course (treatments, growth, survival); ``no_tumor``
    gets ``n_visits`` (default 1) scans of the same healthy brain and no survival data.
    ``progress(stage, fraction)`` is told after each visit. Returns the written records,
    ready for ``write_manifest``.
    """
    report = progress or (lambda stage, fraction: None)
    records = []
    if label == "no_tumor":
        for visit in range(n_visits or 1):
            noise_seed = int(np.random.SeedSequence([seed, 7919, visit]).generate_state(1)[0])
            case = generate_case("no_tumor", seed=seed, modalities=modalities, spacing=spacing, noise_seed=noise_seed)
            records.append(write_case(out_dir, visit_case_id(patient_id, visit), case.images, case.masks["seg"],
                                      patient_id=patient_id, visit_day=visit * NO_TUMOUR_VISIT_GAP_DAYS,
                                      label=case.label))
            report(f"Wrote visit {visit + 1} of {n_visits or 1}", (visit + 1) / (n_visits or 1))
        return records
    patient = generate_patient(seed, n_visits=n_visits, label=label)
    for visit in patient.visits:
        case = patient.case(visit.index, modalities=modalities, spacing=spacing)
        records.append(write_case(
            out_dir, visit_case_id(patient_id, visit.index), case.images, case.masks["seg"],
            patient_id=patient_id, visit_day=visit.day, label=patient.label, age=patient.age, sex=patient.sex,
            kps=patient.kps, treatments=visit.treatments, survival_days=patient.survival_days,
            event=int(patient.event)))
        report(f"Wrote visit {visit.index + 1} of {len(patient.visits)} (day {visit.day})",
               (visit.index + 1) / len(patient.visits))
    return records


def cohort_labels(n_patients: int, seed: int, types: Sequence[str] | None = None) -> list[str]:
    """Tumour types for a cohort: cycled over ``types`` (balanced), shuffled by the seed."""
    types = list(types or TUMOUR_CLASSES)
    labels = [types[i % len(types)] for i in range(n_patients)]
    np.random.default_rng(np.random.SeedSequence([seed, 11])).shuffle(labels)
    return labels
