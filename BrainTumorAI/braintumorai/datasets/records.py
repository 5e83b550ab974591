"""Plain records for one imaging visit and for a loaded dataset.

A :class:`VisitRecord` holds *paths*, never pixels: loading a cohort of hundreds
of cases costs a directory walk, and the images are read only when a visit is
used (:func:`braintumorai.datasets.load_visit_images`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..modalities import MODALITIES


@dataclass
class VisitRecord:
    """One imaging visit (time point) of one patient.

    Attributes:
        patient_id: identifier shared by all visits of a patient.
        case_id: identifier of this visit, unique in the dataset (the folder name
            in BraTS-style layouts).
        visit_day: days since the patient's first visit (0 for the first or only
            visit); None where the dataset gives no date (e.g. BraTS 2023 follow-up
            time points, UPenn-GBM follow-ups).
        files: ``{modality: path}`` in channel order, modalities from
            ``braintumorai.modalities.MODALITIES``.
        seg_path: tumour label map of this visit, or None.
        label: class label as the dataset states it (``"HGG"``, ``"glioma"``, the
            UCSF-PDGM WHO 2021 diagnosis, a phantom class ...); None if unknown.
        age: years; sex: ``"M"``/``"F"`` (other spellings kept as given);
        kps: Karnofsky performance status (0-100).
        treatments: treatments given at this visit (synthetic layout:
            ``surgery``, ``radiotherapy``, ``chemotherapy``).
        survival_days: patient-level overall survival or follow-up time in days,
            measured from the origin the dataset uses (surgery for BraTS 2020 and
            UPenn-GBM, the first visit for the synthetic cohort).
        event: 1 = death observed, 0 = censored (alive at survival_days), None =
            unknown.
        extra: other per-visit facts kept as text (``who_grade``, ``idh``,
            ``mgmt``, ``extent_of_resection``, ``rano``, ``timepoint``, ``cohort``).
    """

    patient_id: str
    case_id: str
    visit_day: Optional[int]
    files: dict[str, str]
    seg_path: Optional[str] = None
    label: Optional[str] = None
    age: Optional[float] = None
    sex: Optional[str] = None
    kps: Optional[float] = None
    treatments: tuple[str, ...] = ()
    survival_days: Optional[float] = None
    event: Optional[int] = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modalities present, in channel order."""
        return tuple(m for m in MODALITIES if m in self.files)


def _visit_order(record: VisitRecord) -> tuple:
    # Undated visits go after dated ones; the case id breaks ties, which keeps
    # LUMIERE's week-000-1 / week-000-2 and UPenn's _11 / _21 in order.
    day = record.visit_day
    return (day is None, day if day is not None else 0, record.case_id)


@dataclass
class Dataset:
    """Visits found under one root, and what was left out.

    Attributes:
        records: the usable visits.
        skipped: ``(case_or_row, reason)`` for every case folder or CSV row that
            was left out, with a one-sentence reason.
        layout: the layout name that was read (see ``braintumorai.datasets.LAYOUTS``).
        root: the folder that was read.
    """

    records: list[VisitRecord]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    layout: str = ""
    root: str = ""

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def case(self, case_id: str) -> VisitRecord:
        """The record of one case; KeyError if absent."""
        for record in self.records:
            if record.case_id == case_id:
                return record
        raise KeyError(case_id)

    def patients(self) -> dict[str, list[VisitRecord]]:
        """``{patient_id: visits sorted by day}``, patients sorted by id."""
        grouped: dict[str, list[VisitRecord]] = {}
        for record in self.records:
            grouped.setdefault(record.patient_id, []).append(record)
        return {pid: sorted(grouped[pid], key=_visit_order) for pid in sorted(grouped)}

    def skipped_report(self) -> str:
        """The skipped list as lines ``case: reason`` (empty string if none)."""
        return "\n".join(f"{what}: {why}" for what, why in self.skipped)

    def to_dataframe(self):
        """One row per visit as a ``pandas.DataFrame``.

        Columns: case, patient, visit_day, label, modalities (';'-joined), age,
        sex, kps, treatments (';'-joined), survival_days, event, seg, one path
        column per modality (T1, T1C, T2, FLAIR, CT, PET), then the ``extra`` keys.
        """
        import pandas as pd  # imported here: pandas is slow to import inside Slicer

        extra_keys: list[str] = []
        for record in self.records:
            for key in record.extra:
                if key not in extra_keys:
                    extra_keys.append(key)
        rows = []
        for record in self.records:
            row = {
                "case": record.case_id,
                "patient": record.patient_id,
                "visit_day": record.visit_day,
                "label": record.label,
                "modalities": ";".join(record.modalities),
                "age": record.age,
                "sex": record.sex,
                "kps": record.kps,
                "treatments": ";".join(record.treatments),
                "survival_days": record.survival_days,
                "event": record.event,
                "seg": record.seg_path,
            }
            for modality in MODALITIES:
                row[modality] = record.files.get(modality)
            for key in extra_keys:
                row[key] = record.extra.get(key)
            rows.append(row)
        columns = [
            "case", "patient", "visit_day", "label", "modalities", "age", "sex", "kps",
            "treatments", "survival_days", "event", "seg", *MODALITIES, *extra_keys,
        ]
        return pd.DataFrame(rows, columns=columns)
