"""Classify in the Slicer module's Lib, on a real slicer-core MRML scene.

A tiny untrained checkpoint (saved here, so the bundled model is not needed)
runs through the background task; the result must come back as new nodes in
the reference volume's study, with saliency overlays on exactly the reference
node's grid, and the user's volumes untouched.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
slicer = pytest.importorskip("slicer")
torch = pytest.importorskip("torch")
pytest.importorskip("monai")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("slicer-core (MRML) is not installed", allow_module_level=True)

import slicer.util  # noqa: E402
import vtk  # noqa: E402

from braintumorai.errors import ModelError  # noqa: E402
from BrainTumorAILib import (  # noqa: E402
    BackgroundTask,
    auto_assign,
    classification_result_nodes,
    collect_inputs,
    error_message,
    find_study_item,
    ijk_to_ras_matrix,
    load_phantom_study,
    modality_weights_text,
    result_rows,
    result_summary,
    result_warnings_text,
    run_classification,
    show_saliency_map,
    volume_node_from_sitk_image,
)

# The module's stubbed-GUI fixture (BrainTumorAI.py imported on slicer-core).
from test_slicer_lib import module_with_stubbed_gui  # noqa: E402,F401

CLASSES = ("glioblastoma", "meningioma", "metastasis")
MODEL_MODALITIES = ("T1C", "FLAIR", "T2")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    """A tiny untrained ModalityAttentionNet (6 mm grid) with a conformal threshold."""
    from braintumorai.checkpoints import save_checkpoint
    from braintumorai.models import ModalityAttentionNet

    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = ModalityAttentionNet(
        CLASSES, MODEL_MODALITIES,
        encoder_kwargs={"channels": (4, 8), "strides": (2, 2), "blocks": (0,)},
        embed_dim=8, attention_hidden=4,
    )
    path = tmp_path_factory.mktemp("model") / "tiny"
    save_checkpoint(model, path, {
        "spacing_mm": [6.0, 6.0, 6.0], "grid_size": [24, 28, 24],
        "calibration": {"temperature": 1.0, "conformal_threshold": 0.7, "coverage": 0.9},
    })
    return str(path) + ".json"


@pytest.fixture(scope="module")
def phantom():
    """A glioblastoma phantom at 4 mm: T1C, FLAIR, T2 and CT on one axial grid."""
    from braintumorai.synthetic import generate_case

    return generate_case("glioblastoma", 11, modalities=("T1", "T1C", "T2", "FLAIR", "CT"), spacing=4.0).images


def oblique(image: sitk.Image) -> sitk.Image:
    """``image`` resampled onto a rotated, anisotropic grid covering the same brain."""
    rotation = sitk.Euler3DTransform()
    rotation.SetRotation(0.3, -0.2, 0.45)
    direction = np.array(rotation.GetMatrix()).reshape(3, 3)
    centre = np.array(image.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in image.GetSize()]))
    size, spacing = np.array([52, 60, 34]), np.array([3.5, 3.5, 5.0])
    origin = centre - direction @ ((size - 1) / 2 * spacing)
    return sitk.Resample(image, size.tolist(), sitk.Transform(), sitk.sitkLinear, origin.tolist(),
                         spacing.tolist(), direction.ravel().tolist(), 0.0, sitk.sitkFloat32)


@pytest.fixture
def scene():
    return slicer.vtkMRMLScene()


def add_slice_views(scene) -> list:
    composites = []
    for name in ("Red", "Yellow", "Green"):
        composite = scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
        composite.SetLayoutName(name)
        composites.append(composite)
    return composites


def snapshot(node) -> tuple:
    return np.array(slicer.util.arrayFromVolume(node), copy=True), ijk_to_ras_matrix(node), node.GetName()


def assert_unchanged(node, before) -> None:
    voxels, matrix, name = before
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(node), voxels)
    np.testing.assert_array_equal(ijk_to_ras_matrix(node), matrix)
    assert node.GetName() == name and node.GetParentTransformNode() is None


def column(table_node, name) -> list:
    array = table_node.GetTable().GetColumnByName(name)
    assert array is not None, f"column {name!r} missing"
    return [array.GetValue(i) for i in range(array.GetNumberOfValues())]


def classify(collected, checkpoint, **kwargs):
    status = BackgroundTask(run_classification, collected, model=checkpoint, device="cpu", **kwargs).start().wait(120)
    assert status.state == "done", status.details
    return status.result


def test_classify_adds_new_nodes_on_the_oblique_reference_grid_and_leaves_inputs_alone(scene, checkpoint, phantom):
    reference = volume_node_from_sitk_image(scene, oblique(phantom["T1C"]), "case7_t1c")
    flair = volume_node_from_sitk_image(scene, phantom["FLAIR"], "case7_flair")
    t2 = volume_node_from_sitk_image(scene, phantom["T2"], "case7_t2")
    inputs = {"T1C": reference, "FLAIR": flair, "T2": t2}
    before = {m: snapshot(n) for m, n in inputs.items()}
    composites = add_slice_views(scene)
    existing = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}

    collected = collect_inputs(inputs)
    result = classify(collected, checkpoint, saliency="gradcam")
    assert result.classes == list(CLASSES) and result.reference == "T1C"
    assert abs(sum(result.probabilities) - 1.0) < 1e-6
    assert result.coregistration == {"T1C": "yes", "FLAIR": "resampled", "T2": "resampled"}

    nodes = classification_result_nodes(scene, result, collected)
    table = nodes["probabilities"]
    assert column(table, "class") == list(CLASSES)
    probabilities = np.array(column(table, "probability"))
    np.testing.assert_allclose(probabilities, result.probabilities, atol=1e-12)
    assert abs(probabilities.sum() - 1.0) < 1e-6
    marks = column(table, "in prediction set")
    assert [c for c, mark in zip(CLASSES, marks) if mark == "yes"] == result.prediction_set
    assert result.predicted in result.prediction_set
    assert table.GetAttribute("BrainTumorAI.Predicted") == result.predicted

    weights = nodes["modality_weights"]
    assert sorted(column(weights, "modality")) == sorted(MODEL_MODALITIES)
    assert abs(sum(column(weights, "weight")) - 1.0) < 1e-5

    overlays = nodes["saliency"]
    assert set(overlays) == {"fused", *MODEL_MODALITIES}
    reference_matrix = ijk_to_ras_matrix(reference)
    for name, overlay in overlays.items():
        assert overlay.GetID() not in existing
        assert overlay.GetImageData().GetDimensions() == reference.GetImageData().GetDimensions()
        np.testing.assert_array_equal(ijk_to_ras_matrix(overlay), reference_matrix)
        np.testing.assert_array_equal(slicer.util.arrayFromVolume(overlay),
                                      sitk.GetArrayFromImage(result.saliency[name]))
        assert overlay.GetAttribute("BrainTumorAI.SaliencyMap") == name
    assert np.any(slicer.util.arrayFromVolume(overlays["fused"]) > 0), "the fused map is empty"
    assert all(c.GetForegroundVolumeID() == overlays["fused"].GetID() for c in composites)
    assert all(c.GetBackgroundVolumeID() == reference.GetID() for c in composites)

    study = find_study_item(scene, table)
    assert study and all(find_study_item(scene, n) == study for n in (weights, *overlays.values()))
    assert find_study_item(scene, reference) in (0, study)

    show_saliency_map(scene, overlays["FLAIR"], reference)
    assert all(c.GetForegroundVolumeID() == overlays["FLAIR"].GetID() for c in composites)
    for modality, node in inputs.items():
        assert_unchanged(node, before[modality])

    rows = result_rows(result)
    assert [r[0] for r in rows][0] == result.predicted and [r[1] for r in rows] == sorted(result.probabilities)[::-1]
    assert modality_weights_text(result).startswith("Modality weights: ")
    assert result.predicted in result_summary(result, 1.0)
    assert result.ood_score is None and result_warnings_text(result) == ""  # the tiny card has no OOD statistics
    result.warnings.append("An example doubt.")
    assert "An example doubt." in result_warnings_text(result)


def test_overlays_follow_the_reference_under_a_linear_transform(scene, checkpoint, phantom):
    reference = volume_node_from_sitk_image(scene, oblique(phantom["T1C"]), "t1c")
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    matrix = vtk.vtkMatrix4x4()
    rotation = vtk.vtkTransform()
    rotation.RotateZ(12.0)
    rotation.Translate(5.0, -3.0, 8.0)
    matrix.DeepCopy(rotation.GetMatrix())
    transform.SetMatrixTransformToParent(matrix)
    reference.SetAndObserveTransformNodeID(transform.GetID())
    flair = volume_node_from_sitk_image(scene, oblique(phantom["FLAIR"]), "flair")
    flair.SetAndObserveTransformNodeID(transform.GetID())
    before = ijk_to_ras_matrix(reference)

    collected = collect_inputs({"T1C": reference, "FLAIR": flair})
    result = classify(collected, checkpoint, saliency="gradcam++")
    nodes = classification_result_nodes(scene, result, collected)
    assert set(nodes["saliency"]) == {"fused", "T1C", "FLAIR"}
    for overlay in nodes["saliency"].values():
        assert overlay.GetParentTransformNode() is transform
        np.testing.assert_array_equal(ijk_to_ras_matrix(overlay), before)
        assert overlay.GetImageData().GetDimensions() == reference.GetImageData().GetDimensions()
    np.testing.assert_array_equal(ijk_to_ras_matrix(reference), before)
    assert reference.GetParentTransformNode() is transform


def test_no_usable_modality_fails_with_one_sentence_and_adds_nothing(scene, checkpoint, phantom):
    ct = volume_node_from_sitk_image(scene, phantom["CT"], "head CT")
    count = scene.GetNumberOfNodes()
    status = BackgroundTask(run_classification, collect_inputs({"CT": ct}), model=checkpoint,
                            device="cpu").start().wait(120)
    assert status.state == "failed" and isinstance(status.error, ModelError)
    message = error_message("Classification", status.error)
    assert message == str(status.error)
    assert "T1C" in message and "CT" in message
    assert message.endswith(".") and message.count(". ") == 0, message
    assert scene.GetNumberOfNodes() == count


def test_cancel_before_the_model_loads_stops_the_task(scene, checkpoint, phantom):
    t1c = volume_node_from_sitk_image(scene, phantom["T1C"], "t1c")
    task = BackgroundTask(run_classification, collect_inputs({"T1C": t1c}), model=checkpoint, device="cpu")
    task.cancel()
    assert task.start().wait(60).state == "cancelled"


def test_unexpected_errors_are_named_as_such():
    message = error_message("Classification", KeyError("x"))
    assert message.startswith("Classification failed unexpectedly (KeyError")


def test_phantom_study_nodes_are_named_for_auto_assign(scene):
    nodes = load_phantom_study(scene, "meningioma", seed=5, spacing=6.0)
    assert list(nodes) == ["T1", "T1C", "T2", "FLAIR", "CT", "PET"]
    assert nodes["T1C"].GetName() == "Phantom meningioma T1C"
    assignment = auto_assign(scene)
    assert assignment.assigned == nodes and not assignment.ambiguous and not assignment.unmatched
    study = find_study_item(scene, nodes["T1"])
    assert study and all(find_study_item(scene, n) == study for n in nodes.values())
    spacing = {tuple(np.round(np.linalg.norm(ijk_to_ras_matrix(n)[:3, :3], axis=0), 6)) for n in nodes.values()}
    assert spacing == {(6.0, 6.0, 6.0)}
    assert nodes["CT"].GetDisplayNode().GetWindow() == 100.0

    again = load_phantom_study(scene, "meningioma", seed=5, spacing=6.0, modalities=("T1C",))
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(again["T1C"]), slicer.util.arrayFromVolume(nodes["T1C"]))


def test_module_classifies_shows_results_and_registers_phantoms(scene, checkpoint, module_with_stubbed_gui,  # noqa: F811
                                                               monkeypatch):
    import types

    module, _ = module_with_stubbed_gui
    registered = []
    sample_data = types.ModuleType("SampleData")
    sample_data.SampleDataLogic = types.SimpleNamespace(
        registerCustomSampleDataSource=lambda **kwargs: registered.append(kwargs))
    monkeypatch.setitem(sys.modules, "SampleData", sample_data)

    module.registerSampleData()
    names = [source["sampleName"] for source in registered]
    assert "BrainTumorAI glioblastoma phantom" in names and "BrainTumorAI meningioma phantom" in names
    assert {source["category"] for source in registered} == {"BrainTumorAI"}
    source = registered[names.index("BrainTumorAI glioblastoma phantom")]
    loader = source["customDownloader"]
    loader.spacing = 6.0  # the real loader makes 1 mm volumes; keep the test fast
    loaded = loader(types.SimpleNamespace(**source))
    assert [n.GetName() for n in loaded][:2] == ["Phantom glioblastoma T1", "Phantom glioblastoma T1C"]

    logic = module.BrainTumorAILogic()
    parameters = logic.getParameterNode()
    logic.autoAssign(parameters)
    assert parameters.t1cVolume.GetName() == "Phantom glioblastoma T1C"
    parameters.useCPU = True
    parameters.modelPath = checkpoint
    task = logic.startClassification(parameters)
    status = task.wait(120)
    assert status.state == "done", status.details
    nodes = logic.addClassificationNodes(status.result, task.inputs, parameters)
    assert parameters.probabilityTable is nodes["probabilities"]
    assert parameters.saliencyVolume is nodes["saliency"]["fused"]
    assert set(nodes["saliency"]) == {"fused", "T1C", "FLAIR", "T2"}
    assert find_study_item(scene, nodes["probabilities"]) == find_study_item(scene, loaded[0])


def test_an_extracted_brain_mask_joins_the_results_on_the_reference_grid(scene, checkpoint, phantom):
    import dataclasses

    reference = volume_node_from_sitk_image(scene, oblique(phantom["T1C"]), "raw_t1c")
    collected = collect_inputs({"T1C": reference})
    result = classify(collected, checkpoint, saliency=None)
    # As the core returns it for a raw study: a uint8 mask on the reference grid.
    from BrainTumorAILib import sitk_image_from_volume_node

    mask = sitk.Cast(sitk_image_from_volume_node(reference) > 0, sitk.sitkUInt8)
    raw = dataclasses.replace(result, brain_mask=mask, skull_stripped=False)
    nodes = classification_result_nodes(scene, raw, collected)
    node = nodes["brain_mask"]
    assert node.GetImageData().GetDimensions() == reference.GetImageData().GetDimensions()
    np.testing.assert_array_equal(ijk_to_ras_matrix(node), ijk_to_ras_matrix(reference))
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(node), sitk.GetArrayFromImage(mask))
    assert find_study_item(scene, node) == find_study_item(scene, nodes["probabilities"])
