"""Classify in the Slicer module's Lib, on a real slicer-core MRML scene, out of process.

A tiny untrained checkpoint (saved here, so the bundled model is not needed) runs through
``braintumorai classify`` in a child process, as in Slicer; the result must come back as
new nodes in the reference volume's study, with saliency overlays on exactly the reference
node's grid, the user's volumes untouched, and a second run replacing the first one's nodes.
"""

from __future__ import annotations

import time
from pathlib import Path

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

from BrainTumorAILib import (  # noqa: E402
    ClassifyOptions,
    Workflow,
    auto_assign,
    classification_result_nodes,
    collect_inputs,
    error_message,
    find_study_item,
    load_phantom_study,
    modality_weights_text,
    result_rows,
    result_summary,
    volume_node_from_sitk_image,
    warnings_text,
)
from BrainTumorAILib.process_task import CommandError  # noqa: E402
from BrainTumorAILib.volume_conversion import ijk_to_ras_matrix  # noqa: E402

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


@pytest.fixture
def workflow(scene, tmp_path):
    return Workflow(scene, work_root=str(tmp_path / "work"))


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


def run(workflow, volumes, checkpoint, **options):
    """Classify through the workflow, polling as the panel's timer does; returns (status, stages seen)."""
    workflow.start_classification(volumes, "Auto", ClassifyOptions(model=checkpoint, device="cpu", **options))
    stages = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = workflow.poll()
        stages.append((round(status.fraction, 3), status.message))
        if status.state != "running":
            return status, stages
        time.sleep(0.05)
    raise AssertionError("the classification did not end within 3 minutes")


def our_nodes(scene) -> list:
    return [scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())
            if scene.GetNthNode(i).GetAttribute("BrainTumorAI.Output")]


def test_classify_in_a_child_process_adds_nodes_on_the_oblique_grid_and_a_second_run_replaces_them(
        scene, workflow, checkpoint, phantom):
    reference = volume_node_from_sitk_image(scene, oblique(phantom["T1C"]), "case7_t1c")
    flair = volume_node_from_sitk_image(scene, phantom["FLAIR"], "case7_flair")
    t2 = volume_node_from_sitk_image(scene, phantom["T2"], "case7_t2")
    inputs = {"T1C": reference, "FLAIR": flair, "T2": t2}
    before = {m: snapshot(n) for m, n in inputs.items()}
    composites = add_slice_views(scene)
    table_view = scene.AddNewNodeByClass("vtkMRMLTableViewNode")
    existing = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}

    status, stages = run(workflow, inputs, checkpoint, saliency="gradcam")
    assert status.state == "done", status.details
    assert len({message for _, message in stages}) >= 3, stages  # progress came through from the child
    assert [f for f, _ in stages] == sorted(f for f, _ in stages)
    data, nodes = status.result.output.data, status.result.nodes
    assert data["classes"] == list(CLASSES) and data["reference"] == "T1C"
    assert data["coregistration"] == {"T1C": "yes", "FLAIR": "resampled", "T2": "resampled"}
    assert not list(Path(workflow.work_root).iterdir())  # the run's work folder is gone

    table = nodes["probabilities"]
    assert table_view.GetTableNodeID() == table.GetID()
    assert column(table, "class") == list(CLASSES)
    probabilities = np.array(column(table, "probability"))
    np.testing.assert_allclose(probabilities, [data["probabilities"][c] for c in CLASSES], atol=1e-12)
    assert abs(probabilities.sum() - 1.0) < 1e-4
    marks = column(table, "in prediction set")
    assert [c for c, mark in zip(CLASSES, marks) if mark == "yes"] == data["prediction_set"]
    weights = nodes["modality_weights"]
    assert sorted(column(weights, "modality")) == sorted(MODEL_MODALITIES)
    assert abs(sum(column(weights, "weight")) - 1.0) < 1e-4

    overlays = nodes["saliency"]
    assert set(overlays) == {"fused", *MODEL_MODALITIES}
    for name, overlay in overlays.items():
        assert overlay.GetID() not in existing
        assert overlay.GetImageData().GetDimensions() == reference.GetImageData().GetDimensions()
        np.testing.assert_array_equal(ijk_to_ras_matrix(overlay), ijk_to_ras_matrix(reference))
        np.testing.assert_array_equal(slicer.util.arrayFromVolume(overlay),
                                      sitk.GetArrayFromImage(status.result.output.maps[name]))
        assert overlay.GetAttribute("BrainTumorAI.SaliencyMap") == name
    assert np.any(slicer.util.arrayFromVolume(overlays["fused"]) > 0), "the fused map is empty"
    assert all(c.GetForegroundVolumeID() == overlays["fused"].GetID() for c in composites)
    assert all(c.GetBackgroundVolumeID() == reference.GetID() for c in composites)
    study = find_study_item(scene, table)
    assert study and all(find_study_item(scene, n) == study for n in (weights, *overlays.values()))

    workflow.show_map("FLAIR", 0.6)
    assert all(c.GetForegroundVolumeID() == overlays["FLAIR"].GetID() for c in composites)
    assert all(c.GetForegroundOpacity() == pytest.approx(0.6) for c in composites)
    rows = result_rows(data)
    assert rows[0][0] == data["predicted"] and [r[1] for r in rows] == sorted(data["probabilities"].values())[::-1]
    assert modality_weights_text(data).startswith("Modality weights: ")
    assert data["predicted"] in result_summary(data, 1.0)

    first = set(our_nodes(scene))
    status, _ = run(workflow, inputs, checkpoint, saliency="gradcam++", target_class="meningioma")
    assert status.state == "done", status.details
    assert status.result.output.data["saliency_class"] == "meningioma"
    second = set(our_nodes(scene))
    assert len(second) == len(first) and not second & first  # replaced, not piled up
    assert find_study_item(scene, status.result.nodes["probabilities"]) == study
    for modality, node in inputs.items():
        assert_unchanged(node, before[modality])


def test_overlays_follow_the_reference_under_a_linear_transform(scene, workflow, checkpoint, phantom):
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

    status, _ = run(workflow, {"T1C": reference, "FLAIR": flair}, checkpoint, saliency="gradcam")
    assert status.state == "done", status.details
    assert set(status.result.nodes["saliency"]) == {"fused", "T1C", "FLAIR"}
    for overlay in status.result.nodes["saliency"].values():
        assert overlay.GetParentTransformNode() is transform
        np.testing.assert_array_equal(ijk_to_ras_matrix(overlay), before)
    np.testing.assert_array_equal(ijk_to_ras_matrix(reference), before)
    assert reference.GetParentTransformNode() is transform


def test_input_the_model_cannot_read_fails_with_the_commands_one_sentence_and_adds_nothing(
        scene, workflow, checkpoint, phantom):
    ct = volume_node_from_sitk_image(scene, phantom["CT"], "head CT")
    count = scene.GetNumberOfNodes()
    status, _ = run(workflow, {"CT": ct}, checkpoint)
    assert status.state == "failed" and isinstance(status.error, CommandError)
    message = error_message("Classification", status.error)
    assert message == str(status.error) and "T1C" in message and "CT" in message
    assert message.endswith(".") and "\n" not in message and not message.startswith("braintumorai")
    assert scene.GetNumberOfNodes() == count and not workflow.busy


@pytest.mark.parametrize("spoil,says", [
    ("nan", "has 20 NaN or infinite voxels"),
    ("spacing", "has a voxel spacing of 4 x 4 x 50 mm"),
    ("negated", "is negative throughout the brain"),
])
def test_volume_nodes_pass_the_checks_files_pass(scene, workflow, checkpoint, phantom, spoil, says):
    """The Slicer path into the pipeline refuses what the command line refuses (issue 9),
    with one sentence, leaving the node as it was and adding nothing."""
    node = volume_node_from_sitk_image(scene, phantom["T1C"], "t1c node")
    voxels = slicer.util.arrayFromVolume(node)
    if spoil == "nan":
        voxels.ravel()[:20] = np.nan
    elif spoil == "negated":
        voxels *= -1
    slicer.util.arrayFromVolumeModified(node)
    if spoil == "spacing":
        node.SetSpacing(4.0, 4.0, 50.0)
    before = snapshot(node)
    flair = volume_node_from_sitk_image(scene, phantom["FLAIR"], "flair")
    count = scene.GetNumberOfNodes()
    status, _ = run(workflow, {"T1C": node, "FLAIR": flair}, checkpoint)
    assert status.state == "failed" and isinstance(status.error, CommandError)
    message = error_message("Classification", status.error)
    assert says in message and "T1C" in message and message.endswith(".") and "\n" not in message, message
    assert_unchanged(node, before)
    assert scene.GetNumberOfNodes() == count and not workflow.busy


def test_cancel_stops_the_child_and_adds_nothing(scene, workflow, checkpoint, phantom):
    t1c = volume_node_from_sitk_image(scene, phantom["T1C"], "t1c")
    count = scene.GetNumberOfNodes()
    task = workflow.start_classification({"T1C": t1c}, None, ClassifyOptions(model=checkpoint, device="cpu"))
    time.sleep(0.5)
    workflow.cancel()
    status = workflow.wait(60)
    assert status.state == "cancelled"
    assert task.process.poll() is not None  # the child is gone
    assert not task.work_dir.exists() and scene.GetNumberOfNodes() == count


def test_panel_text_shows_warnings_and_the_ood_line_only_when_the_result_has_them():
    data = {"classes": ["a", "b"], "probabilities": {"a": 0.7, "b": 0.3}, "predicted": "a", "prediction_set": ["a"],
            "coverage": 0.9, "uncertainty": 0.5}
    assert warnings_text(data) == "" and "warning" not in result_summary(data)
    data.update(warnings=["The T2 volume is 8 mm thick."], ood_score=7.2, ood_flag=True)
    text = warnings_text(data)
    assert text.splitlines()[0].startswith("Warning: Out of distribution (score 7.20)")
    assert "do not rely on the predicted class" in text.splitlines()[0]  # one sentence saying what to do
    assert "Warning: The T2 volume is 8 mm thick." in text
    assert "2 warnings about the input" in result_summary(data)
    data.update(warnings=[], ood_flag=False, ood_score=1.0)
    assert warnings_text(data).startswith("Out-of-distribution score 1.00: within")
    assert "Note:" not in warnings_text(data)  # a model trained on real data: no caveat
    data.update(model={"name": "m", "trained_on": "synthetic phantoms (braintumorai.synthetic); no patient data"})
    assert warnings_text(data).splitlines()[-1] == ("Note: The model was trained on synthetic phantoms only and has not "
                                                    "been validated on real scans: on a real study its answer and its "
                                                    "prediction set can be wrong even when confident and not flagged.")
    assert error_message("Classification", KeyError("x")).startswith("Classification failed unexpectedly (KeyError")


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


def test_generated_samples_are_registered_for_sample_data_and_scripts_can_load_them_too(scene):
    from BrainTumorAILib.sample_data import load_sample, sample_sources

    registered = sample_sources("icon.png")  # what registerSampleData hands to SampleData, with a customDownloader
    names = [source["sampleName"] for source in registered]
    assert names[0] == "BrainTumorAI synthetic patient" and "BrainTumorAI glioblastoma phantom" in names
    assert {source["category"] for source in registered} == {"BrainTumorAI"}
    assert all(source["loadFileTypes"] == "VolumeFile" and "loadFileType" not in source for source in registered)
    assert {source["thumbnailFileName"] for source in registered} == {"icon.png"}

    loaded = load_sample(scene, "BrainTumorAI glioblastoma phantom", spacing=6.0)  # what the button does
    assert [n.GetName() for n in loaded][:2] == ["Phantom glioblastoma T1", "Phantom glioblastoma T1C"]
    with pytest.raises(Exception, match="Unknown BrainTumorAI sample"):
        load_sample(scene, "BrainTumorAI something else")


def test_an_extracted_brain_mask_joins_the_results_on_the_reference_grid(scene, phantom, tmp_path):
    reference = volume_node_from_sitk_image(scene, oblique(phantom["T1C"]), "raw_t1c")
    collected = collect_inputs({"T1C": reference})
    # As classify writes it for a raw study: a uint8 mask on the reference grid beside result.json.
    from BrainTumorAILib import sitk_image_from_volume_node
    from BrainTumorAILib.classification_task import ClassificationOutput

    mask = sitk.Cast(sitk_image_from_volume_node(reference) > 0, sitk.sitkUInt8)
    sitk.WriteImage(mask, str(tmp_path / "brain_mask.nii.gz"))
    probabilities = dict(zip(CLASSES, np.full(len(CLASSES), 1 / len(CLASSES))))
    data = {"classes": list(CLASSES), "probabilities": probabilities, "predicted": CLASSES[0],
            "prediction_set": [CLASSES[0]], "reference": "T1C", "modality_weights": {"T1C": 1.0},
            "coverage": 0.9, "brain_mask": "brain_mask.nii.gz", "model": {"name": "test"}}
    nodes = classification_result_nodes(scene, ClassificationOutput(data=data, maps={}, folder=tmp_path), collected)
    node = nodes["brain_mask"]
    assert node.GetImageData().GetDimensions() == reference.GetImageData().GetDimensions()
    np.testing.assert_array_equal(ijk_to_ras_matrix(node), ijk_to_ras_matrix(reference))
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(node), sitk.GetArrayFromImage(mask))
    assert find_study_item(scene, node) == find_study_item(scene, nodes["probabilities"])
    again = classification_result_nodes(scene, ClassificationOutput(data=data, maps={}, folder=tmp_path), collected)
    assert scene.GetNodeByID(node.GetID()) is None and again["brain_mask"] is not None  # replaced, not piled up
