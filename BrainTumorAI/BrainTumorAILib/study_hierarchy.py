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


def find_study_item(scene, node) -> int:
    """The study item above ``node`` in subject hierarchy, or 0 when there is none."""
    sh = subject_hierarchy(scene)
    item = sh.GetItemByDataNode(node)
    scene_item = sh.GetSceneItemID()
    while item and item != scene_item:
        if sh.GetItemLevel(item) == _study_level():
            return item
        item = sh.GetItemParent(item)
    return 0


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


def place_in_study(
    scene,
    nodes: Iterable,
    reference_node,
    folder_name: Optional[str] = "BrainTumorAI results",
) -> int:
    """Move the output ``nodes`` into the reference volume's study.

    With ``folder_name`` they go into a new folder of that name inside the study
    (one folder per run keeps repeated runs apart); with None directly under the
    study. Returns the item they were placed under.
    """
    sh = subject_hierarchy(scene)
    study = study_item_for(scene, reference_node)
    parent = study
    if folder_name:
        parent = sh.CreateFolderItem(study, scene.GenerateUniqueName(folder_name))
    for node in nodes:
        if node is None:
            continue
        sh.SetItemParent(item_of_node(scene, node), parent)
    return parent
