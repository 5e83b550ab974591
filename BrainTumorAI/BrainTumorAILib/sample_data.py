"""Sample data generated on this computer (nothing is downloaded).

``load_phantom_study`` draws one synthetic case with the core's generator
(``braintumorai.synthetic.generate_case``) and adds one volume node per modality,
named ``Phantom <tumour type> <modality>`` so that Auto-assign recognises them,
inside a subject hierarchy study of their own (the Classify outputs then land in
the same study).

``load_synthetic_patient`` draws a longitudinal patient
(``braintumorai.synthetic.generate_patient``) and loads one study per visit, with a
study date, the treatments received by then and a tumour segmentation, under a patient
item that has a name, an ID, a sex and a birth date, as the DICOM module would have made
them: the whole Predict-survival path works on it.
"""

from __future__ import annotations

import datetime as _dt
from typing import Optional, Sequence

import vtk

import slicer

from braintumorai.errors import InputError
from braintumorai.modalities import MODALITIES

from .output_nodes import ensure_default_colors
from .study_hierarchy import item_of_node, subject_hierarchy
from .visits import STUDY_TREATMENTS_ATTRIBUTE
from .volume_conversion import volume_node_from_sitk_image

PHANTOM_ATTRIBUTE = "BrainTumorAI.Phantom"
PHANTOMS_SUBJECT_NAME = "BrainTumorAI phantoms"
# Brain window of the CT phantom (HU); the others use automatic window/level.
CT_WINDOW_LEVEL = (100.0, 40.0)
# The synthetic patient: a glioblastoma followed over four visits (surgery, radio- and
# chemotherapy, then regrowth), the first visit on this date.
SYNTHETIC_PATIENT_SEED = 9_100_000
SYNTHETIC_PATIENT_VISITS = 4
SYNTHETIC_PATIENT_FIRST_DATE = _dt.date(2024, 1, 15)


def phantom_node_name(label: str, modality: str) -> str:
    """'Phantom glioblastoma T1C': the tumour type in words, then the modality."""
    return f"Phantom {label.replace('_', ' ')} {modality}"


def load_phantom_study(
    scene,
    label: str,
    seed: int = 0,
    spacing: float = 1.0,
    modalities: Sequence[str] = MODALITIES,
) -> dict:
    """Generate a phantom and add its volumes to ``scene``.

    Args:
        scene: the MRML scene.
        label: tumour type, one of ``braintumorai.synthetic.CLASSES``.
        seed: the same seed always gives the same voxels.
        spacing: voxel size in mm (0.5 to 8; 1 mm takes a few seconds).
        modalities: which of T1, T1C, T2, FLAIR, CT, PET to add.

    Returns:
        ``{modality: new scalar volume node}`` in channel order. The nodes sit in
        a new study "<tumour type> phantom (seed N)" under a patient
        "BrainTumorAI phantoms"; MRI in scanner units, CT in HU, PET in SUV, all
        co-registered on one grid.

    Raises:
        InputError for an unknown label, modality or a spacing out of range.
    """
    from braintumorai.synthetic import generate_case  # builds the MNI atlas maps on first use

    case = generate_case(label, int(seed), modalities=tuple(modalities), spacing=spacing)
    nodes = _add_volumes(scene, case.images, lambda m: phantom_node_name(case.label, m), f"{case.label} seed {int(seed)}")
    sh = subject_hierarchy(scene)
    patient = _child_named(sh, sh.GetSceneItemID(), PHANTOMS_SUBJECT_NAME)
    if not patient:
        patient = sh.CreateSubjectItem(sh.GetSceneItemID(), PHANTOMS_SUBJECT_NAME)
    study = sh.CreateStudyItem(patient, f"{case.label.replace('_', ' ')} phantom (seed {int(seed)})")
    for node in nodes.values():
        sh.SetItemParent(item_of_node(scene, node), study)
    return nodes


def _add_volumes(scene, images: dict, name_of, tag: str) -> dict:
    nodes = {}
    for modality, image in images.items():
        node = volume_node_from_sitk_image(scene, image, name_of(modality))
        node.SetAttribute(PHANTOM_ATTRIBUTE, tag)
        display = node.GetDisplayNode()
        if modality == "CT" and display is not None:
            display.AutoWindowLevelOff()
            display.SetWindowLevel(*CT_WINDOW_LEVEL)
        nodes[modality] = node
    return nodes


def load_synthetic_patient(
    scene,
    seed: int = SYNTHETIC_PATIENT_SEED,
    visits: int = SYNTHETIC_PATIENT_VISITS,
    spacing: float = 1.5,
    modalities: Sequence[str] = MODALITIES,
    label: str = "glioblastoma",
) -> dict:
    """Generate a longitudinal phantom patient and load one study per visit.

    Args:
        scene: the MRML scene.
        seed: the same seed always gives the same patient and voxels.
        visits: number of visits (2 to 8), all before death or the end of follow-up.
        spacing: voxel size in mm (0.5 to 8).
        modalities: which of T1, T1C, T2, FLAIR, CT, PET each visit has.
        label: tumour type (not ``no_tumor``).

    Returns:
        ``{"patient": subject item, "studies": [study item per visit], "volumes": [{modality:
        node} per visit], "segmentations": [label map node per visit], "clinical": {"age",
        "sex", "kps"}, "patient_data": generate_patient's summary (true survival included)}``.
        Volumes are named ``Visit k (day d) <modality>``; each study carries the DICOM study
        date (``YYYYMMDD``) and the treatments received by then.
    """
    from braintumorai.synthetic import generate_patient

    patient = generate_patient(int(seed), n_visits=int(visits), label=label)
    ensure_default_colors(scene)  # the segmentations' label colours
    constants = slicer.vtkMRMLSubjectHierarchyConstants
    sh = subject_hierarchy(scene)
    subject = sh.CreateSubjectItem(sh.GetSceneItemID(), f"BrainTumorAI synthetic patient (seed {int(seed)})")
    attributes = {constants.GetDICOMPatientNameAttributeName(): "BrainTumorAI^Synthetic",
                  constants.GetDICOMPatientIDAttributeName(): f"SYN-{int(seed)}",
                  constants.GetDICOMPatientSexAttributeName(): patient.sex or ""}
    if patient.age is not None:
        birth = SYNTHETIC_PATIENT_FIRST_DATE - _dt.timedelta(days=round(patient.age * 365.25))
        attributes[constants.GetDICOMPatientBirthDateAttributeName()] = birth.strftime("%Y%m%d")
    for key, value in attributes.items():
        sh.SetItemAttribute(subject, key, value)
    out = {"patient": subject, "studies": [], "volumes": [], "segmentations": [],
           "clinical": {"age": patient.age, "sex": patient.sex, "kps": patient.kps}, "patient_data": patient.to_dict()}
    for index, visit in enumerate(patient.visits):
        case = patient.case(index, modalities=tuple(modalities), spacing=spacing)
        prefix = f"Visit {index + 1} (day {visit.day})"
        nodes = _add_volumes(scene, case.images, lambda m: f"{prefix} {m}", f"{label} seed {int(seed)} visit {index + 1}")
        segmentation = volume_node_from_sitk_image(scene, case.masks["seg"], f"{prefix} seg",
                                                   class_name="vtkMRMLLabelMapVolumeNode")
        date = SYNTHETIC_PATIENT_FIRST_DATE + _dt.timedelta(days=int(visit.day))
        study = sh.CreateStudyItem(subject, f"MR brain {date.isoformat()} (visit {index + 1})")
        sh.SetItemAttribute(study, constants.GetDICOMStudyDateAttributeName(), date.strftime("%Y%m%d"))
        sh.SetItemAttribute(study, constants.GetDICOMStudyDescriptionAttributeName(), f"MR brain, visit {index + 1}")
        sh.SetItemAttribute(study, STUDY_TREATMENTS_ATTRIBUTE, ",".join(visit.treatments))
        for node in (*nodes.values(), segmentation):
            sh.SetItemParent(item_of_node(scene, node), study)
        out["studies"].append(study)
        out["volumes"].append(nodes)
        out["segmentations"].append(segmentation)
    return out


def _child_named(sh, parent: int, name: str) -> int:
    children = vtk.vtkIdList()
    sh.GetItemChildren(parent, children, False)
    for index in range(children.GetNumberOfIds()):
        item = children.GetId(index)
        if sh.GetItemName(item) == name:
            return item
    return 0


# SampleData entries: name shown -> loader. Generated locally, never downloaded.
SYNTHETIC_PATIENT_SAMPLE = "BrainTumorAI synthetic patient"
PHANTOM_SAMPLES = (("BrainTumorAI glioblastoma phantom", "glioblastoma", 9_000_001),
                   ("BrainTumorAI meningioma phantom", "meningioma", 9_000_002),
                   ("BrainTumorAI metastasis phantom", "metastasis", 9_000_003),
                   ("BrainTumorAI lower grade glioma phantom", "lower_grade_glioma", 9_000_004))


def load_sample(scene, name: str, spacing: Optional[float] = None) -> list:
    """Generate the SampleData entry ``name`` into ``scene`` and show its (last) T1C as the
    slice views' background; returns the volume nodes added (segmentations included).

    What SampleData's button does, callable from scripts and tutorials
    (``SampleData.downloadSample`` cannot run a generator). ``spacing`` in mm (default: 1.5
    for the synthetic patient, 1 for the phantoms).
    """
    from .slice_views import show_as_background

    if name == SYNTHETIC_PATIENT_SAMPLE:
        loaded = load_synthetic_patient(scene, spacing=spacing or 1.5)
        show_as_background(scene, loaded["volumes"][-1]["T1C"])
        return [node for volumes in loaded["volumes"] for node in volumes.values()] + loaded["segmentations"]
    for sample, label, seed in PHANTOM_SAMPLES:
        if sample == name:
            nodes = load_phantom_study(scene, label, seed, spacing or 1.0)
            show_as_background(scene, nodes["T1C"])
            return list(nodes.values())
    names = [SYNTHETIC_PATIENT_SAMPLE] + [sample for sample, _, _ in PHANTOM_SAMPLES]
    raise InputError(f"Unknown BrainTumorAI sample '{name}'; use one of: {', '.join(names)}.")


def sample_sources(icon: str) -> list[dict]:
    """Keyword arguments of ``SampleData.SampleDataLogic.registerCustomSampleDataSource`` for each
    sample (the module adds its ``customDownloader``); ``icon`` is the thumbnail's path."""
    return [dict(category="BrainTumorAI", sampleName=name, uris=f"braintumorai-generated:{name}",
                 fileNames=f"{name}.nrrd", nodeNames=name, thumbnailFileName=icon, loadFileTypes="VolumeFile")
            for name in sample_names()]


def sample_names() -> list[str]:
    return [SYNTHETIC_PATIENT_SAMPLE] + [sample for sample, _, _ in PHANTOM_SAMPLES]
