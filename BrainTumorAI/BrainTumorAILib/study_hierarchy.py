"""Place output nodes in the reference volume's study in subject hierarchy.

Users read results where their images are: under the same study in the Data
module. When the reference volume has no study above it (a NIfTI file loaded
from disk sits directly under the scene), a study named after the volume is
created once and reused by later runs. The user's own items are never moved.
"""

from __future__ import annotations

from typing import Iterable, Optional

import vtk

import slicer

# Item attribute that marks the study we created for a reference volume, so a
# second run finds it again instead of creating another one.
CREATED_STUDY_ATTRIBUTE = "BrainTumorAI.CreatedForVolumeNodeID"
# Item attribute that marks a results folder this module made (its value: the folder's name).
RESULTS_FOLDER_ATTRIBUTE = "BrainTumorAI.ResultsFolder"
# Node attribute set on every node this module creates (its value: the node's role).
OUTPUT_ATTRIBUTE = "BrainTumorAI.Output"


def subject_hierarchy(scene):
    """The scene's subject hierarchy node (created when missing)."""
    return slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)


def item_of_node(scene, node) -> int:
    """The subject hierarchy item of ``node``; one is added under the scene when
    the node has none yet (bare scenes have no plugin that adds them)."""
    sh = subject_hierarchy(scene)
    item = sh.GetItemByDataNode(node)
    if not item:
        item = sh.CreateItem(sh.GetSceneItemID(), node)
    return item


def _study_level() -> str:
    return slicer.vtkMRMLSubjectHierarchyConstants.GetDICOMLevelStudy()


def _item_above(scene, item: int, level: str) -> int:
    sh = subject_hierarchy(scene)
    scene_item = sh.GetSceneItemID()
    while item and item != scene_item:
        if sh.GetItemLevel(item) == level:
            return item
        item = sh.GetItemParent(item)
    return 0


def find_study_item(scene, node) -> int:
    """The study item above ``node`` in subject hierarchy, or 0 when there is none."""
    return _item_above(scene, subject_hierarchy(scene).GetItemByDataNode(node), _study_level())


def find_patient_item(scene, item: int) -> int:
    """The patient (subject) item at or above the subject hierarchy ``item``, or 0."""
    return _item_above(scene, item, slicer.vtkMRMLSubjectHierarchyConstants.GetDICOMLevelPatient())


def study_item_for(scene, reference_node) -> int:
    """The study that holds outputs computed from ``reference_node``.

    The study above the node when there is one; else the study this module
    created for the node earlier; else a new study, placed beside the node
    (under the same parent) and named after it.
    """
    sh = subject_hierarchy(scene)
    study = find_study_item(scene, reference_node)
    if study:
        return study
    reference_item = item_of_node(scene, reference_node)
    for item in _all_items(sh):
        if sh.GetItemAttribute(item, CREATED_STUDY_ATTRIBUTE) == reference_node.GetID():
            return item
    parent = sh.GetItemParent(reference_item) or sh.GetSceneItemID()
    study = sh.CreateStudyItem(parent, f"{reference_node.GetName()} study")
    sh.SetItemAttribute(study, CREATED_STUDY_ATTRIBUTE, reference_node.GetID())
    return study


def _all_items(sh) -> list[int]:
    ids = vtk.vtkIdList()
    sh.GetItemChildren(sh.GetSceneItemID(), ids, True)
    return [ids.GetId(i) for i in range(ids.GetNumberOfIds())]


def results_folder(scene, parent: int, folder_name: str) -> int:
    """The results folder ``folder_name`` this module made under ``parent``; made when missing."""
    sh = subject_hierarchy(scene)
    children = vtk.vtkIdList()
    sh.GetItemChildren(parent, children, False)
    for index in range(children.GetNumberOfIds()):
        item = children.GetId(index)
        if sh.GetItemAttribute(item, RESULTS_FOLDER_ATTRIBUTE) == folder_name:
            return item
    folder = sh.CreateFolderItem(parent, folder_name)
    sh.SetItemAttribute(folder, RESULTS_FOLDER_ATTRIBUTE, folder_name)
    return folder


def place_under(scene, nodes: Iterable, parent: int, folder_name: Optional[str]) -> int:
    """Move the output ``nodes`` under ``parent``, inside its results folder ``folder_name``
    (None: directly under ``parent``). Returns the item they were placed under."""
    sh = subject_hierarchy(scene)
    if folder_name:
        parent = results_folder(scene, parent, folder_name)
    for node in nodes:
        if node is not None:
            sh.SetItemParent(item_of_node(scene, node), parent)
    return parent


def place_in_study(
    scene,
    nodes: Iterable,
    reference_node,
    folder_name: Optional[str] = "BrainTumorAI results",
) -> int:
    """Move the output ``nodes`` into the reference volume's study, inside its results
    folder ``folder_name`` (made once, reused by later runs; None: directly under the
    study). Returns the item they were placed under."""
    return place_under(scene, nodes, study_item_for(scene, reference_node), folder_name)


def place_in_patient(scene, nodes: Iterable, node_of_patient, folder_name: str = "BrainTumorAI results") -> int:
    """Move the output ``nodes`` into the results folder of the patient above
    ``node_of_patient`` (results about the patient as a whole, like a survival curve);
    into the node's study when it has no patient above it."""
    patient = find_patient_item(scene, item_of_node(scene, node_of_patient))
    return place_under(scene, nodes, patient or study_item_for(scene, node_of_patient), folder_name)


def remove_outputs(scene, roles: Iterable[str], key_attribute: str, key: str) -> int:
    """Remove the nodes this module made in one of ``roles`` whose ``key_attribute`` is
    ``key`` (the outputs of an earlier run on the same input), and results folders left
    empty. Nothing without this module's output attribute is touched. Returns the count."""
    roles = set(roles)
    doomed = []
    for index in range(scene.GetNumberOfNodes()):
        node = scene.GetNthNode(index)
        if node.GetAttribute(OUTPUT_ATTRIBUTE) in roles and node.GetAttribute(key_attribute) == key:
            doomed.append(node)
    sh = subject_hierarchy(scene)
    folders = {sh.GetItemParent(sh.GetItemByDataNode(node)) for node in doomed}
    for node in doomed:
        scene.RemoveNode(node)
    for folder in folders:
        children = vtk.vtkIdList()
        sh.GetItemChildren(folder, children, False)
        if folder and sh.GetItemAttribute(folder, RESULTS_FOLDER_ATTRIBUTE) and children.GetNumberOfIds() == 0:
            sh.RemoveItem(folder)
    return len(doomed)
