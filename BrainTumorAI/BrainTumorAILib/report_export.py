"""Export report: the last results of the panel -> ``braintumorai.report.write_report``.

The report writer lives in the core (the command line uses it too); this adapter only
gathers what the scene knows: the patient and study identifiers exactly as loaded (the
DICOM attributes Slicer's DICOM module keeps on subject hierarchy items, else the item
and node names), the volumes behind the run, and a tumour segmentation when the
reference's study has one.
"""

from __future__ import annotations

import os
from typing import Optional

import slicer

from braintumorai.errors import InputError

from .study_hierarchy import find_patient_item, find_study_item, item_of_node, subject_hierarchy
from .volume_conversion import sitk_image_from_volume_node


def report_identifiers(scene, reference_node, names: Optional[dict] = None) -> dict:
    """Patient and study identifiers as loaded, for the report's header.

    ``names``: modality -> node name of the volumes the run used.
    """
    constants = slicer.vtkMRMLSubjectHierarchyConstants
    sh = subject_hierarchy(scene)
    study = find_study_item(scene, reference_node)
    patient = find_patient_item(scene, study or item_of_node(scene, reference_node))
    identifiers = {}
    if patient:
        identifiers["Patient"] = sh.GetItemName(patient)
        for label, key in (("Patient name", constants.GetDICOMPatientNameAttributeName()),
                           ("Patient ID", constants.GetDICOMPatientIDAttributeName()),
                           ("Patient sex", constants.GetDICOMPatientSexAttributeName()),
                           ("Patient birth date", constants.GetDICOMPatientBirthDateAttributeName())):
            if sh.GetItemAttribute(patient, key):
                identifiers[label] = sh.GetItemAttribute(patient, key)
    if study:
        identifiers["Study"] = sh.GetItemName(study)
        for label, key in (("Study date", constants.GetDICOMStudyDateAttributeName()),
                           ("Study description", constants.GetDICOMStudyDescriptionAttributeName()),
                           ("Study instance UID", constants.GetDICOMStudyInstanceUIDAttributeName())):
            if sh.GetItemAttribute(study, key):
                identifiers[label] = sh.GetItemAttribute(study, key)
    identifiers["Reference volume"] = reference_node.GetName()
    for modality, name in (names or {}).items():
        identifiers[f"{modality} volume"] = name
    return identifiers


def export_report(scene, out_dir: os.PathLike, classification=None, collected=None, survival=None,
                  reference_node=None, lesion_node=None, title: str = "BrainTumorAI report") -> dict:
    """Write the report of the last Classify (``classification``: a ``ClassificationOutput``
    with the ``collected`` inputs it ran on) and/or the last Predict survival (``survival``:
    survival.json's dict) into ``out_dir``; returns the files written (see ``write_report``).
    """
    from braintumorai.report import write_report

    if classification is None and survival is None:
        raise InputError("There is nothing to report yet; press Classify or Predict survival first.")
    if reference_node is None:
        raise InputError("The report needs the reference volume; select it and press Classify again.")
    kwargs = {}
    names = None
    if classification is not None:
        names = dict(collected.names)
        kwargs.update(classification=classification.data, saliency=classification.maps,
                      reference=collected.images[collected.reference], images=dict(collected.images))
        if lesion_node is not None:
            kwargs["lesion"] = sitk_image_from_volume_node(lesion_node)
    return write_report(out_dir, survival=survival, identifiers=report_identifiers(scene, reference_node, names),
                        title=title, **kwargs)
