"""Which volume nodes are inputs, the reference, Auto-assign by name (BrainTumorAILib.inputs), on slicer-core."""

from __future__ import annotations

import pytest

from slicer_helpers import (  # noqa: F401 (scene is a fixture; importing it skips without slicer-core)
    assert_same_geometry, oblique_image, scene,
)

from braintumorai.errors import InputError  # noqa: E402
from BrainTumorAILib import (  # noqa: E402
    auto_assign,
    collect_inputs,
    volume_node_from_sitk_image,
)


def test_collect_inputs_picks_reference_and_refuses_bad_selections(scene):
    t1 = volume_node_from_sitk_image(scene, oblique_image(), "t1")
    t1c = volume_node_from_sitk_image(scene, oblique_image(), "t1c")
    collected = collect_inputs({"T1": t1, "T1C": t1c, "T2": None, "flair": None})
    assert collected.modalities == ["T1", "T1C"]
    assert collected.reference == "T1C"
    assert collected.node_ids == {"T1": t1.GetID(), "T1C": t1c.GetID()}
    assert_same_geometry(collected.images["T1"], oblique_image())
    assert collect_inputs({"T1": t1, "T1C": t1c}, reference="T1").reference == "T1"
    assert collect_inputs({"T1": t1}, reference="Auto").reference == "T1"

    with pytest.raises(InputError, match="select at least one"):
        collect_inputs({"T1": None, "CT": None})
    with pytest.raises(InputError, match="both T1 and T2"):
        collect_inputs({"T1": t1, "T2": t1})
    with pytest.raises(InputError, match="not among the inputs"):
        collect_inputs({"T1": t1}, reference="PET")
    with pytest.raises(InputError, match="Unknown modality"):
        collect_inputs({"DWI": t1})


def test_auto_assign_matches_names_and_reports_ambiguity(scene):
    image = oblique_image()
    names = ["BraTS-GLI-00001-000-t1c", "BraTS-GLI-00001-000-t2f", "UCSF-PDGM-0004_T2", "T2 axial", "localizer"]
    nodes = {name: volume_node_from_sitk_image(scene, image, name) for name in names}
    saliency = volume_node_from_sitk_image(scene, image, "saliency t1")
    saliency.SetAttribute("BrainTumorAI.Output", "saliency")

    result = auto_assign(scene)
    assert result.assigned == {"T1C": nodes["BraTS-GLI-00001-000-t1c"], "FLAIR": nodes["BraTS-GLI-00001-000-t2f"]}
    assert sorted(result.ambiguous["T2"]) == ["T2 axial", "UCSF-PDGM-0004_T2"]
    assert result.unmatched == ["localizer"]
    assert "T2 is ambiguous" in result.summary()


@pytest.mark.parametrize("class_name", ["vtkMRMLVectorVolumeNode", "vtkMRMLDiffusionWeightedVolumeNode",
                                        "vtkMRMLDiffusionTensorVolumeNode", "vtkMRMLLabelMapVolumeNode"])
def test_only_plain_scalar_volumes_are_inputs(scene, class_name):
    """Vector, DWI, tensor and label map volumes subclass the scalar volume node, but the
    modality selectors cannot show them: Auto-assign skips them, a script that passes one is refused."""
    t1c = volume_node_from_sitk_image(scene, oblique_image(), "case_t1c")
    other = scene.AddNewNodeByClass(class_name, "case_flair")
    assert auto_assign(scene).assigned == {"T1C": t1c}
    with pytest.raises(InputError, match="not a plain scalar volume"):
        collect_inputs({"T1C": t1c, "FLAIR": other})


