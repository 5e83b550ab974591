"""The panel's settings -> the Lib's options, and the visits table's cells.

The parameter node is read through plain attributes (``p.useCPU``, ``p.modelPath`` ...),
so any object with those attributes works: the module's ``@parameterNodeWrapper`` class
in Slicer, a ``SimpleNamespace`` in a test.
"""

from __future__ import annotations

from typing import Optional

from braintumorai.survival.visit_features import TREATMENTS

from .classification_task import ClassifyOptions
from .survival_task import SurvivalOptions
from .visits import StudyVisit, images_text, parse_day

# Label shown in the panel -> method name of braintumorai.saliency.
SALIENCY_METHODS = {"Fine (LayerCAM x Grad-CAM)": "layercam",
                    "Grad-CAM": "gradcam", "Grad-CAM++": "gradcam++", "Occlusion (slow)": "occlusion", "None": None}
# Columns of the visits table: Use, Study, Day, one per treatment, Images.
VISIT_COLUMNS = ("Use", "Study", "Day", *(kind.capitalize() for kind in TREATMENTS), "Images")
DAY_COLUMN = 2
# The age spin box's (and the parameter's) upper bound, years.
MAXIMUM_AGE = 120


def path_text(value) -> str:
    """A path setting as text; "" for none (an empty ``pathlib.Path`` reads as ".")."""
    text = str(value or "").strip()
    return "" if text == "." else text


def classify_options(p, target_class: Optional[str] = None) -> ClassifyOptions:
    return ClassifyOptions(model=path_text(p.modelPath) or None, device="cpu" if p.useCPU else None,
                           saliency=SALIENCY_METHODS[p.saliencyMethod], target_class=target_class or None,
                           register=bool(p.registerIfNeeded))


def survival_options(p) -> SurvivalOptions:
    return SurvivalOptions(model=path_text(p.prognosisModelPath) or None, device="cpu" if p.useCPU else None)


def clinical(p) -> dict:
    """Age, sex, KPS of the panel; the spin boxes' lowest values (-1, -10) and 'unknown' mean not known."""
    return {"age": p.ageYears if p.ageYears >= 0 else None, "kps": p.kps if p.kps >= 0 else None,
            "sex": p.patientSex if p.patientSex in ("F", "M") else None}


def model_classes(model: Optional[str]) -> list[str]:
    """The classes of a classifier's model card (None or "": the bundled one), read without
    torch; [] when the card cannot be read (the run will say why)."""
    from braintumorai.checkpoints import read_card, resolve_model
    from braintumorai.errors import BrainTumorAIError

    try:
        return [str(c) for c in read_card(resolve_model(path_text(model) or None))["classes"]]
    except (BrainTumorAIError, OSError, KeyError, ValueError):
        return []


def visit_cells(visit: StudyVisit) -> list[tuple[str, Optional[bool]]]:
    """``(text, checked or None)`` per column of ``VISIT_COLUMNS``; checked cells are check boxes."""
    day = "" if visit.day is None else f"{visit.day:g}"
    return ([("", visit.use), (visit.name, None), (day, None)]
            + [("", kind in visit.treatments) for kind in TREATMENTS] + [(images_text(visit), None)])


def apply_visit_cells(visit: StudyVisit, use: bool, day_text: str, ticked: list[bool]) -> None:
    """Write the user's edits of one row back into ``visit`` (``ticked``: one per treatment).

    Raises InputError for a day that is not a number.
    """
    visit.use = bool(use)
    visit.day = parse_day(day_text, visit.name)
    visit.treatments = {kind for kind, on in zip(TREATMENTS, ticked) if on}


def reference_node(volume_nodes: dict, reference: Optional[str]):
    """The node of the reference modality: the user's choice, else the first present of
    T1C, T1, FLAIR, T2, CT, PET; None when no volume is selected."""
    from braintumorai.modalities import choose_reference

    present = [m for m, node in volume_nodes.items() if node is not None]
    if not present:
        return None
    chosen = reference if reference in present else None
    return volume_nodes[choose_reference(present, chosen)]


def prefill_clinical(p, known: dict) -> None:
    """Put the patient's age and sex read from DICOM into the panel where it says 'unknown'."""
    if known.get("age") is not None and p.ageYears < 0 and 0 <= int(known["age"]) <= MAXIMUM_AGE:
        p.ageYears = int(known["age"])  # the parameter's WithinRange refuses anything else
    if known.get("sex") in ("F", "M") and p.patientSex == "unknown":
        p.patientSex = known["sex"]


def assign_by_name(scene, p, parameter_names: dict):
    """Fill the panel's empty modality selectors (``parameter_names``: modality -> parameter)
    from the volume names; returns the ``AutoAssignment`` (what was assigned, what was ambiguous)."""
    import slicer.util

    from .inputs import auto_assign

    assignment = auto_assign(scene)
    with slicer.util.NodeModify(p.parameterNode):
        for modality, node in assignment.assigned.items():
            if getattr(p, parameter_names[modality]) is None:
                setattr(p, parameter_names[modality], node)
    return assignment
