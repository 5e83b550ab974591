"""Results as nodes: overlays, tables, their place in the subject hierarchy (output_nodes, study_hierarchy)."""

from __future__ import annotations

import numpy as np
import pytest

from slicer_helpers import (  # noqa: F401 (scene is a fixture; importing it skips without slicer-core)
    oblique_image, scene, sitk,
)

from braintumorai.errors import InputError  # noqa: E402
from BrainTumorAILib import (  # noqa: E402
    find_study_item,
    show_as_foreground,
    volume_node_from_sitk_image,
)
from BrainTumorAILib.output_nodes import modality_weights_table_node, probability_table_node, saliency_overlay_node  # noqa: E402
from BrainTumorAILib.study_hierarchy import item_of_node, place_in_study, subject_hierarchy  # noqa: E402
from BrainTumorAILib.volume_conversion import ijk_to_ras_matrix  # noqa: E402


def _add_slice_views(scene, background=None):
    composites = []
    for layout_name in ("Red", "Yellow", "Green"):
        composite = scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
        composite.SetLayoutName(layout_name)
        composites.append(composite)
    if background is not None:
        composites[0].SetBackgroundVolumeID(background.GetID())
    return composites


def test_saliency_overlay_is_shown_as_foreground_over_the_reference(scene):
    reference = volume_node_from_sitk_image(scene, oblique_image(), "t1c")
    other = volume_node_from_sitk_image(scene, oblique_image(), "t2")
    composites = _add_slice_views(scene, background=other)

    saliency = sitk.Cast(oblique_image() > 50, sitk.sitkFloat32)
    overlay = saliency_overlay_node(scene, saliency, "Saliency fused", reference_node=reference)

    assert overlay.GetID() != reference.GetID()
    np.testing.assert_allclose(ijk_to_ras_matrix(overlay), ijk_to_ras_matrix(reference), atol=1e-9)
    display = overlay.GetDisplayNode()
    color = scene.GetNodeByID(display.GetColorNodeID())
    assert color.IsA("vtkMRMLColorTableNode") and color.GetNumberOfColors() == 256
    assert (display.GetWindowLevelMin(), display.GetWindowLevelMax()) == (0.0, 1.0)
    assert display.GetApplyThreshold()
    for composite in composites:
        assert composite.GetForegroundVolumeID() == overlay.GetID()
        assert composite.GetForegroundOpacity() == pytest.approx(0.4)  # as the README pictures show it
    # The user's background choice is kept; empty views get the reference.
    assert composites[0].GetBackgroundVolumeID() == other.GetID()
    assert composites[1].GetBackgroundVolumeID() == reference.GetID()

    second = saliency_overlay_node(scene, saliency, "Saliency T1C", show=False)
    assert second.GetDisplayNode().GetColorNodeID() == color.GetID()  # one colour table per scene
    assert composites[2].GetForegroundVolumeID() == overlay.GetID()


def test_overlay_in_a_scene_without_views_sets_nothing_and_does_not_fail(scene):
    overlay = saliency_overlay_node(scene, oblique_image(), "map")
    assert show_as_foreground(scene, overlay) == 0
    assert overlay.GetDisplayNode() is not None


def _column(table_node, name):
    array = table_node.GetTable().GetColumnByName(name)
    return [array.GetValue(i) for i in range(array.GetNumberOfTuples())]


def test_probability_table_holds_classes_in_order_and_sums_to_one(scene):
    classes = ["glioblastoma", "lower_grade_glioma", "metastasis", "meningioma", "lymphoma", "no_tumor"]
    logits = np.array([2.0, 0.5, 1.0, -1.0, 0.0, -2.0])
    probabilities = np.exp(logits) / np.exp(logits).sum()
    table = probability_table_node(scene, classes, probabilities, prediction_set=["glioblastoma", "metastasis"])

    assert _column(table, "class") == classes
    assert sum(_column(table, "probability")) == pytest.approx(1.0)
    np.testing.assert_allclose(_column(table, "probability"), probabilities)
    assert _column(table, "in prediction set") == ["yes", "no", "yes", "no", "no", "no"]

    # Any class list works (a BraTS 2020 model has two).
    assert _column(probability_table_node(scene, ["HGG", "LGG"], [0.7, 0.3]), "class") == ["HGG", "LGG"]
    with pytest.raises(InputError, match="sum to"):
        probability_table_node(scene, ["a", "b"], [0.7, 0.7])
    with pytest.raises(InputError, match="one probability per class"):
        probability_table_node(scene, ["a", "b", "c"], [0.5, 0.5])
    with pytest.raises(InputError, match="unknown classes"):
        probability_table_node(scene, ["a", "b"], [0.5, 0.5], prediction_set=["c"])


def test_modality_weights_table(scene):
    table = modality_weights_table_node(scene, {"T1C": 0.6, "FLAIR": 0.3, "T1": 0.1})
    assert _column(table, "modality") == ["T1C", "FLAIR", "T1"]
    assert sum(_column(table, "weight")) == pytest.approx(1.0)


# --------------------------------------------------------------------------- subject hierarchy

def _parent_chain(scene, node):
    sh = subject_hierarchy(scene)
    item, chain = sh.GetItemByDataNode(node), []
    while item:
        chain.append(item)
        item = sh.GetItemParent(item)
    return chain


def test_outputs_are_placed_in_the_reference_study(scene):
    sh = subject_hierarchy(scene)
    reference = volume_node_from_sitk_image(scene, oblique_image(), "t1c")
    patient = sh.CreateSubjectItem(sh.GetSceneItemID(), "Patient 1")
    study = sh.CreateStudyItem(patient, "MR 2024-01-01")
    sh.SetItemParent(item_of_node(scene, reference), study)

    overlay = saliency_overlay_node(scene, oblique_image(), "map", show=False)
    table = probability_table_node(scene, ["a", "b"], [0.25, 0.75])
    folder = place_in_study(scene, [overlay, table], reference)

    assert sh.GetItemParent(folder) == study
    for node in (overlay, table):
        assert study in _parent_chain(scene, node)
        assert find_study_item(scene, node) == study
    assert sh.GetItemParent(sh.GetItemByDataNode(reference)) == study
    # A second run goes into the same results folder, not a new one.
    again = probability_table_node(scene, ["a", "b"], [0.5, 0.5])
    assert place_in_study(scene, [again], reference) == folder


def test_a_study_is_created_once_for_a_volume_outside_any_study(scene):
    sh = subject_hierarchy(scene)
    reference = volume_node_from_sitk_image(scene, oblique_image(), "brain_t1c")
    item_of_node(scene, reference)
    assert find_study_item(scene, reference) == 0

    first = probability_table_node(scene, ["a", "b"], [0.5, 0.5])
    second = probability_table_node(scene, ["a", "b"], [0.5, 0.5])
    place_in_study(scene, [first], reference)
    place_in_study(scene, [second], reference, folder_name=None)

    study = find_study_item(scene, first)
    assert study and find_study_item(scene, second) == study
    assert sh.GetItemName(study) == "brain_t1c study"
    # The user's volume stays where it was.
    assert sh.GetItemParent(sh.GetItemByDataNode(reference)) == sh.GetSceneItemID()


def test_whole_results_become_nodes_in_the_reference_study(scene):
    from BrainTumorAILib.result_nodes import classification_output_nodes

    reference = volume_node_from_sitk_image(scene, oblique_image(), "t1c")
    composites = _add_slice_views(scene)
    maps = {name: sitk.Cast(oblique_image() > 50, sitk.sitkFloat32) for name in ("fused", "T1C", "FLAIR")}
    nodes = classification_output_nodes(
        scene, reference, ["HGG", "LGG"], [0.9, 0.1], saliency=maps,
        modality_weights={"T1C": 0.7, "FLAIR": 0.3}, prediction_set=["HGG"],
    )
    assert set(nodes["saliency"]) == {"fused", "T1C", "FLAIR"}
    assert composites[0].GetForegroundVolumeID() == nodes["saliency"]["fused"].GetID()
    assert composites[0].GetForegroundOpacity() == pytest.approx(0.4)
    study = find_study_item(scene, reference) or find_study_item(scene, nodes["probabilities"])
    for node in (nodes["probabilities"], nodes["modality_weights"], *nodes["saliency"].values()):
        assert find_study_item(scene, node) == study


def test_a_loose_volumes_results_stay_under_its_own_parent_one_study_per_volume(scene):
    """A volume in a folder of the user's, outside any study: its results go beside it, under that
    folder, in a study of its own; a second loose volume there gets its own."""
    sh = subject_hierarchy(scene)
    folder = sh.CreateFolderItem(sh.GetSceneItemID(), "my scans")
    first, second = (volume_node_from_sitk_image(scene, oblique_image(), name) for name in ("scan a", "scan b"))
    for node in (first, second):
        sh.SetItemParent(item_of_node(scene, node), folder)
    tables = [probability_table_node(scene, ["a", "b"], [0.5, 0.5]) for _ in range(2)]
    place_in_study(scene, [tables[0]], first)
    place_in_study(scene, [tables[1]], second)
    studies = [find_study_item(scene, t) for t in tables]
    assert studies[0] != studies[1] and all(sh.GetItemParent(s) == folder for s in studies)
    assert [sh.GetItemName(s) for s in studies] == ["scan a study", "scan b study"]
    assert sh.GetItemParent(item_of_node(scene, first)) == folder  # the user's volume is not moved
