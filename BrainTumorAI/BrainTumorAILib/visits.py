"""The patient's visits for Predict survival, read from the subject hierarchy.

Each study under the patient is a visit. Its day counts from the earliest study date
(the DICOM study date Slicer's DICOM module stores on the study item, ``YYYYMMDD``);
a study without a date gets its day from the user, in the panel's visits table. Its
volumes are matched to modalities by name (the study the user selected volumes from
uses the selection instead), a label map named ``seg`` is its tumour segmentation.
Treatments are ticked per visit in the table (a study may carry them in the
``BrainTumorAI.Treatments`` attribute, as the synthetic patient does); a treatment
received by one visit counts as received by every later one.

Nothing here changes the scene: the visits hold references to the user's nodes, which
are copied (transforms hardened) only when the prediction starts.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import re
from typing import Mapping, Optional

import vtk

import slicer

from braintumorai.errors import InputError
from braintumorai.modalities import MODALITIES
from braintumorai.survival.visit_features import TREATMENTS

from .inputs import auto_assign, input_volume_nodes
from .study_hierarchy import OUTPUT_ATTRIBUTE, find_patient_item, find_study_item, item_of_node, subject_hierarchy

# Study item attribute: treatments received by this visit, comma-separated (surgery, radiotherapy, chemotherapy).
STUDY_TREATMENTS_ATTRIBUTE = "BrainTumorAI.Treatments"
_SEGMENTATION_TOKENS = {"seg", "segmentation"}


def parse_study_date(text: Optional[str]) -> Optional[_dt.date]:
    """A study date as DICOM writes it (``20240115``) or with separators (``2024-01-15``); None otherwise."""
    digits = re.sub(r"[-./ ]", "", (text or "").strip())
    if not re.fullmatch(r"\d{8}", digits):
        return None
    try:
        return _dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


@dataclasses.dataclass
class StudyVisit:
    """One row of the visits table.

    Attributes:
        study_item: the study's subject hierarchy item (0 for volumes under no study).
        name: the study's name as the Data module shows it.
        date: its study date, or None.
        volumes: modality -> scalar volume node (channel order).
        segmentation: a label map volume node named ``seg``, or None.
        ignored: names of volumes that were not used (no modality in the name, or two for one modality).
        day: days since the first visit (from the dates; the user types it where there is no date).
        use: whether the visit takes part (the user may untick it).
        treatments: treatments received by this visit, as ticked.
    """

    study_item: int
    name: str
    date: Optional[_dt.date]
    volumes: dict
    segmentation: object = None
    ignored: list = dataclasses.field(default_factory=list)
    day: Optional[float] = None
    use: bool = True
    treatments: set = dataclasses.field(default_factory=set)

    def note(self) -> str:
        """What the table says about the visit's images."""
        parts = []
        if not self.volumes:
            parts.append("no volume of a known modality: used as a visit without images")
        if self.ignored:
            parts.append("not used: " + ", ".join(self.ignored))
        return "; ".join(parts)


def images_text(visit: StudyVisit) -> str:
    """The visits table's Images cell: modalities (and 'seg'), then what was not used."""
    names = list(visit.volumes) + (["seg"] if visit.segmentation is not None else [])
    text = ", ".join(names) or "none"
    return f"{text} ({visit.note()})" if visit.note() else text


def parse_day(text: str, study_name: str) -> Optional[float]:
    """The visits table's Day cell as days since the first visit ("" -> None)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        day = float(text)
    except ValueError:
        day = math.nan
    if not math.isfinite(day):
        raise InputError(f"The day '{text}' of study '{study_name}' is not a number; type the days since the first visit.")
    return day


def _children(sh, item: int, recursive: bool = True) -> list[int]:
    ids = vtk.vtkIdList()
    sh.GetItemChildren(item, ids, recursive)
    return [ids.GetId(i) for i in range(ids.GetNumberOfIds())]


def _studies_of(scene, patient: int) -> list[int]:
    sh = subject_hierarchy(scene)
    level = slicer.vtkMRMLSubjectHierarchyConstants.GetDICOMLevelStudy()
    return [item for item in _children(sh, patient) if sh.GetItemLevel(item) == level]


def visit_of_study(scene, study: int, selected: Mapping[str, object]) -> StudyVisit:
    """The visit a study makes: its volumes by modality (``selected`` ones where they lie in
    this study, else matched by name), its segmentation, date and treatments."""
    sh = subject_hierarchy(scene)
    nodes = [sh.GetItemDataNode(item) for item in _children(sh, study)]
    nodes = [n for n in nodes if n is not None and not n.GetAttribute(OUTPUT_ATTRIBUTE)]
    allowed = {n.GetID() for n in input_volume_nodes(scene)}
    volumes = [n for n in nodes if n.GetID() in allowed]
    chosen = {m: n for m, n in selected.items() if n is not None and find_study_item(scene, n) == study}
    ignored = []
    if chosen:
        volumes_by_modality = {m: chosen[m] for m in MODALITIES if m in chosen}
        ignored = [n.GetName() for n in volumes if n not in chosen.values()]
    else:
        assignment = auto_assign(scene, volumes)
        volumes_by_modality = assignment.assigned
        ignored = list(assignment.unmatched) + [name for names in assignment.ambiguous.values() for name in names]
    labels = [n for n in nodes if n.IsA("vtkMRMLLabelMapVolumeNode")
              and _SEGMENTATION_TOKENS & set(re.split(r"[^a-z0-9]+", n.GetName().lower()))]
    treatments = {t.strip() for t in (sh.GetItemAttribute(study, STUDY_TREATMENTS_ATTRIBUTE) or "").split(",")}
    return StudyVisit(
        study_item=study, name=sh.GetItemName(study),
        date=parse_study_date(sh.GetItemAttribute(study, slicer.vtkMRMLSubjectHierarchyConstants.GetDICOMStudyDateAttributeName())),
        volumes=volumes_by_modality, segmentation=labels[0] if len(labels) == 1 else None,
        ignored=ignored + ([n.GetName() for n in labels] if len(labels) > 1 else []),
        treatments=treatments & set(TREATMENTS),
    )


def patient_visits(scene, node, selected: Optional[Mapping[str, object]] = None) -> tuple[int, list[StudyVisit]]:
    """``(patient item, visits)`` of the patient ``node`` belongs to (0 when it has none).

    Visits are the patient's studies, dated ones first by date, then the others in the
    Data module's order; days count from the earliest date. Without a patient, the
    node's study is the only visit; without a study either, the ``selected`` volumes are.
    """
    selected = {m: n for m, n in (selected or {}).items() if n is not None}
    study = find_study_item(scene, node)
    patient = find_patient_item(scene, study or item_of_node(scene, node))
    studies = _studies_of(scene, patient) if patient else ([study] if study else [])
    if studies:
        visits = [visit_of_study(scene, s, selected) for s in studies]
    else:
        chosen = selected or {m: n for m, n in auto_assign(scene, [node]).assigned.items()}
        visits = [StudyVisit(0, node.GetName(), None, {m: chosen[m] for m in MODALITIES if m in chosen})]
    dated = sorted((v for v in visits if v.date is not None), key=lambda v: v.date)
    if dated:
        for visit in dated:
            visit.day = float((visit.date - dated[0].date).days)
    elif len(visits) == 1:
        visits[0].day = 0.0  # a single visit is day 0 whatever its date
    return patient, dated + [v for v in visits if v.date is None]


def planned_visits(visits: list[StudyVisit]) -> list[StudyVisit]:
    """The ticked visits in day order, each with the treatments received by then (every
    treatment ticked at an earlier or the same visit). Copies; the rows are not changed.

    Raises InputError when no visit is ticked or a ticked one has no day.
    """
    used = [v for v in visits if v.use]
    if not used:
        raise InputError("No visit is ticked in the visits table; tick at least one study.")
    for visit in used:
        if visit.day is None or not math.isfinite(float(visit.day)):
            raise InputError(f"The study '{visit.name}' has no date; type its day (days since the first visit) in the "
                             "visits table, or untick it.")
    received: set = set()
    planned = []
    for visit in sorted(used, key=lambda v: float(v.day)):
        received |= set(visit.treatments)
        planned.append(dataclasses.replace(visit, day=float(visit.day), treatments=set(received)))
    return planned


def clinical_from_patient(scene, patient: int, first_date: Optional[_dt.date]) -> dict:
    """Age (years at the first visit) and sex from the patient item's DICOM attributes; None where absent."""
    constants = slicer.vtkMRMLSubjectHierarchyConstants
    sh = subject_hierarchy(scene)
    sex = (sh.GetItemAttribute(patient, constants.GetDICOMPatientSexAttributeName()) if patient else "") or ""
    birth = parse_study_date(sh.GetItemAttribute(patient, constants.GetDICOMPatientBirthDateAttributeName())) \
        if patient else None
    age = None
    if birth is not None and first_date is not None and first_date >= birth:
        age = first_date.year - birth.year - ((first_date.month, first_date.day) < (birth.month, birth.day))
    sex = sex.strip().upper()[:1]
    return {"age": age, "sex": sex if sex in ("M", "F") else None}
