"""Phantom studies for SampleData, generated on this computer (nothing is downloaded).

``load_phantom_study`` draws one synthetic case with the core's generator
(``braintumorai.synthetic.generate_case``) and adds one volume node per modality,
named ``Phantom <tumour type> <modality>`` so that Auto-assign recognises them,
inside a subject hierarchy study of their own (the Classify outputs then land in
the same study).
"""

from __future__ import annotations

from typing import Sequence

import vtk

from braintumorai.modalities import MODALITIES

from .study_hierarchy import item_of_node, subject_hierarchy
from .volume_conversion import volume_node_from_sitk_image

PHANTOM_ATTRIBUTE = "BrainTumorAI.Phantom"
PHANTOMS_SUBJECT_NAME = "BrainTumorAI phantoms"
# Brain window of the CT phantom (HU); the others use automatic window/level.
CT_WINDOW_LEVEL = (100.0, 40.0)


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
    nodes = {}
    for modality, image in case.images.items():
        node = volume_node_from_sitk_image(scene, image, phantom_node_name(case.label, modality))
        node.SetAttribute(PHANTOM_ATTRIBUTE, f"{case.label} seed {int(seed)}")
        display = node.GetDisplayNode()
        if modality == "CT" and display is not None:
            display.AutoWindowLevelOff()
            display.SetWindowLevel(*CT_WINDOW_LEVEL)
        nodes[modality] = node

    sh = subject_hierarchy(scene)
    patient = _child_named(sh, sh.GetSceneItemID(), PHANTOMS_SUBJECT_NAME)
    if not patient:
        patient = sh.CreateSubjectItem(sh.GetSceneItemID(), PHANTOMS_SUBJECT_NAME)
    study = sh.CreateStudyItem(patient, f"{case.label.replace('_', ' ')} phantom (seed {int(seed)})")
    for node in nodes.values():
        sh.SetItemParent(item_of_node(scene, node), study)
    return nodes


def _child_named(sh, parent: int, name: str) -> int:
    children = vtk.vtkIdList()
    sh.GetItemChildren(parent, children, False)
    for index in range(children.GetNumberOfIds()):
        item = children.GetId(index)
        if sh.GetItemName(item) == name:
            return item
    return 0


def show_as_background(scene, volume_node) -> int:
    """Show ``volume_node`` as every slice view's background (foreground cleared);
    returns the number of views changed (0 in a scene without views)."""
    composites = scene.GetNodesByClass("vtkMRMLSliceCompositeNode")
    for index in range(composites.GetNumberOfItems()):
        composite = composites.GetItemAsObject(index)
        composite.SetBackgroundVolumeID(volume_node.GetID())
        composite.SetForegroundVolumeID(None)
    return composites.GetNumberOfItems()
