"""BrainTumorAILib on the real MRML of the slicer-core wheel (no Qt, no GUI)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
slicer = pytest.importorskip("slicer")
vtk = pytest.importorskip("vtk")
pytest.importorskip("slicer.util")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("slicer-core (MRML) is not installed", allow_module_level=True)

import slicer.util  # noqa: E402

from braintumorai.errors import InputError  # noqa: E402
from BrainTumorAILib import (  # noqa: E402
    BackgroundTask,
    auto_assign,
    collect_inputs,
    find_study_item,
    ijk_to_ras_matrix,
    image_ijk_to_ras,
    is_satisfied,
    modality_weights_table_node,
    place_in_study,
    probability_table_node,
    read_requirements,
    saliency_overlay_node,
    show_as_foreground,
    sitk_image_from_volume_node,
    step_curve,
    survival_chart_nodes,
    volume_node_from_sitk_image,
)
from BrainTumorAILib.study_hierarchy import item_of_node, subject_hierarchy  # noqa: E402

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
BLOB_INDEX = (25, 12, 8)  # (i, j, k)


def oblique_image(flip: bool = False) -> sitk.Image:
    """An oblique, anisotropic float image with a bright blob at BLOB_INDEX."""
    size = (40, 30, 20)
    image = sitk.Image(size, sitk.sitkFloat32)
    image.SetSpacing((0.9, 1.3, 2.7))
    image.SetOrigin((-12.5, 30.25, 7.125))
    rotation = sitk.Euler3DTransform()
    rotation.SetRotation(0.35, -0.26, 0.52)
    direction = np.array(rotation.GetMatrix()).reshape(3, 3)
    if flip:
        direction = direction @ np.diag([1.0, -1.0, 1.0])  # left-handed, like a flipped scan
    image.SetDirection(direction.ravel().tolist())
    voxels = np.random.default_rng(0).normal(10.0, 1.0, size[::-1]).astype(np.float32)
    i, j, k = BLOB_INDEX
    voxels[k - 1 : k + 2, j - 1 : j + 2, i - 1 : i + 2] = 100.0
    voxels[k, j, i] = 200.0
    result = sitk.GetImageFromArray(voxels)
    result.CopyInformation(image)
    return result


def axial_image() -> sitk.Image:
    """oblique_image() resampled onto an axis-aligned 1.5 mm grid (same blob)."""
    return sitk.Resample(oblique_image(), [40, 40, 40], sitk.Transform(), sitk.sitkLinear,
                         (-40.0, -10.0, -30.0), [1.5, 1.5, 1.5], np.eye(3).ravel().tolist())


def blob_lps(image: sitk.Image) -> np.ndarray:
    return np.array(image.TransformIndexToPhysicalPoint(BLOB_INDEX))


def peak_ras_of_node(node) -> np.ndarray:
    """RAS of the brightest voxel, read through the node's own IJKToRAS."""
    voxels = slicer.util.arrayFromVolume(node)
    k, j, i = np.unravel_index(np.argmax(voxels), voxels.shape)
    return (ijk_to_ras_matrix(node) @ np.array([i, j, k, 1.0]))[:3]


def assert_same_geometry(a: sitk.Image, b: sitk.Image) -> None:
    assert a.GetSize() == b.GetSize()
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-9)
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), atol=1e-9)


@pytest.fixture
def scene():
    return slicer.vtkMRMLScene()


# --------------------------------------------------------------------------- volumes

@pytest.mark.parametrize("flip", [False, True])
def test_round_trip_keeps_geometry_voxels_and_blob_position(scene, flip):
    image = oblique_image(flip)
    node = volume_node_from_sitk_image(scene, image, "T1C")

    # The blob lies where it lay: its RAS read from the node is its LPS, flipped.
    np.testing.assert_allclose(peak_ras_of_node(node), LPS_TO_RAS @ blob_lps(image), atol=1e-6)
    np.testing.assert_allclose(node.GetSpacing(), image.GetSpacing(), atol=1e-9)

    back = sitk_image_from_volume_node(node)
    assert_same_geometry(back, image)
    assert back.GetPixelID() == image.GetPixelID()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))
    np.testing.assert_allclose(image_ijk_to_ras(image), ijk_to_ras_matrix(node), atol=1e-9)


def test_conversion_copies_voxels_both_ways(scene):
    image = oblique_image()
    node = volume_node_from_sitk_image(scene, image, "T2")
    original = np.array(slicer.util.arrayFromVolume(node))

    back = sitk_image_from_volume_node(node)
    back[0, 0, 0] = -999.0  # changing the copy must not reach the user's node
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(node), original)

    slicer.util.arrayFromVolume(node)[:] = 0  # nor the other way round
    assert sitk.GetArrayViewFromImage(back).max() == 200.0
    assert sitk.GetArrayViewFromImage(image).max() == 200.0


def test_integer_and_label_images_keep_their_values(scene):
    labels = sitk.Cast(oblique_image() > 50, sitk.sitkUInt8)
    node = volume_node_from_sitk_image(scene, labels, "mask", class_name="vtkMRMLLabelMapVolumeNode")
    assert node.IsA("vtkMRMLLabelMapVolumeNode")
    back = sitk_image_from_volume_node(node)
    assert back.GetPixelID() == sitk.sitkUInt8
    assert int(sitk.GetArrayViewFromImage(back).sum()) == 27

    wide = sitk.Cast(labels, sitk.sitkInt64)  # VTK cannot show 64-bit ints: stored as int32
    np.testing.assert_array_equal(
        slicer.util.arrayFromVolume(volume_node_from_sitk_image(scene, wide, "wide")),
        sitk.GetArrayViewFromImage(labels),
    )


def test_linear_parent_transform_is_hardened_into_the_copy_only(scene):
    image = oblique_image()
    node = volume_node_from_sitk_image(scene, image, "FLAIR")
    before_matrix = ijk_to_ras_matrix(node)
    before_voxels = np.array(slicer.util.arrayFromVolume(node))

    rotation = vtk.vtkTransform()
    rotation.Translate(15.0, -7.5, 4.0)
    rotation.RotateZ(30.0)
    rotation.RotateX(-10.0)
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "moved")
    transform.SetMatrixTransformToParent(rotation.GetMatrix())
    node.SetAndObserveTransformNodeID(transform.GetID())

    moved = sitk_image_from_volume_node(node)
    expected_ras = np.array(rotation.TransformPoint(*(LPS_TO_RAS @ blob_lps(image))))
    np.testing.assert_allclose(LPS_TO_RAS @ blob_lps(moved), expected_ras, atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(moved), before_voxels)

    # The user's node is untouched: same geometry, same voxels, still under its transform.
    np.testing.assert_allclose(ijk_to_ras_matrix(node), before_matrix)
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(node), before_voxels)
    assert node.GetParentTransformNode() is transform


def test_nonlinear_parent_transform_is_resampled_into_the_copy_only(scene):
    voxels = np.zeros((20, 20, 20), np.float32)
    voxels[10, 10, 10] = 100.0  # blob at RAS (10, 10, 10) with unit spacing
    image = sitk.GetImageFromArray(voxels)
    image.SetOrigin((0.0, 0.0, 0.0))
    image.SetDirection(np.diag([-1.0, -1.0, 1.0]).ravel().tolist())  # identity in RAS
    node = volume_node_from_sitk_image(scene, image, "CT")

    # Grid transform that moves every point by +3 mm along R (to parent).
    grid = vtk.vtkImageData()
    grid.SetDimensions(5, 5, 5)
    grid.SetOrigin(-20.0, -20.0, -20.0)
    grid.SetSpacing(20.0, 20.0, 20.0)
    grid.AllocateScalars(vtk.VTK_DOUBLE, 3)
    displacement = vtk.util.numpy_support.vtk_to_numpy(grid.GetPointData().GetScalars())
    displacement[:] = 0.0
    displacement[:, 0] = -3.0  # from parent; its inverse (to parent) is +3
    grid_transform = slicer.vtkOrientedGridTransform()
    grid_transform.SetDisplacementGridData(grid)
    transform = scene.AddNewNodeByClass("vtkMRMLGridTransformNode", "warp")
    transform.SetAndObserveTransformFromParent(grid_transform)
    node.SetAndObserveTransformNodeID(transform.GetID())

    warped = sitk_image_from_volume_node(node)
    assert_same_geometry(warped, image)  # resampled onto the node's own grid
    k, j, i = np.unravel_index(np.argmax(sitk.GetArrayViewFromImage(warped)), voxels.shape)
    peak_ras = LPS_TO_RAS @ np.array(warped.TransformIndexToPhysicalPoint((int(i), int(j), int(k))))
    np.testing.assert_allclose(peak_ras, [13.0, 10.0, 10.0], atol=1.0)
    assert slicer.util.arrayFromVolume(node)[10, 10, 10] == 100.0
    assert node.GetParentTransformNode() is transform


def test_unusable_nodes_are_refused_with_a_clear_error(scene):
    empty = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "empty")
    with pytest.raises(InputError, match="no voxels"):
        sitk_image_from_volume_node(empty)
    with pytest.raises(InputError, match="only 3-D"):
        volume_node_from_sitk_image(scene, sitk.Image(4, 4, sitk.sitkFloat32), "flat")


# --------------------------------------------------------------------------- inputs

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


# --------------------------------------------------------------------------- output nodes

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
        assert composite.GetForegroundOpacity() == pytest.approx(0.5)
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


def test_step_curve_doubles_points_at_each_jump():
    x, y = step_curve([30.0, 60.0, 90.0], [0.9, 0.7, 0.4])
    np.testing.assert_array_equal(x, [0, 30, 30, 60, 60, 90, 90])
    np.testing.assert_array_equal(y, [1.0, 1.0, 0.9, 0.9, 0.7, 0.7, 0.4])
    # A grid that starts at 0 does not repeat the origin.
    x, y = step_curve([0.0, 10.0], [1.0, 0.5])
    np.testing.assert_array_equal(x, [0, 10, 10])
    np.testing.assert_array_equal(y, [1.0, 1.0, 0.5])
    with pytest.raises(InputError, match="increase strictly"):
        step_curve([10.0, 5.0], [0.9, 0.8])


def test_survival_chart_draws_steps_and_band(scene):
    times = np.arange(1, 31) * 60.875  # 30 intervals over 60 months, in days
    survival = np.cumprod(np.full(30, 0.95))
    lower, upper = survival * 0.9, np.minimum(survival * 1.05, 1.0)
    plot = survival_chart_nodes(scene, times, survival, lower, upper, time_unit="months")

    assert plot.chart.GetNumberOfPlotSeriesNodes() == 3
    ids = {plot.chart.GetNthPlotSeriesNode(i).GetYColumnName() for i in range(3)}
    assert ids == {"survival", "lower", "upper"}
    for series in plot.series:
        assert series.GetTableNode() is plot.table
        assert series.GetXColumnName() == "time (months)"
    x = np.array(_column(plot.table, "time (months)"))
    y = np.array(_column(plot.table, "survival"))
    assert len(x) == 2 * 30 + 1  # origin + a doubled point at each of the 30 jumps
    np.testing.assert_allclose(x[1::2], x[2::2])  # each jump is vertical
    np.testing.assert_allclose(y[0:2], [1.0, 1.0])
    np.testing.assert_allclose(y[2::2], survival)
    np.testing.assert_allclose(x[-1], 60.0)
    assert np.all(np.diff(y) <= 0)
    np.testing.assert_allclose(np.array(_column(plot.table, "lower"))[2::2], lower)

    with pytest.raises(InputError, match="both the lower and the upper"):
        survival_chart_nodes(scene, times, survival, lower=lower)
    with pytest.raises(InputError, match="probabilities in"):
        survival_chart_nodes(scene, times, survival * 2)


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
    plot = survival_chart_nodes(scene, [30.0, 60.0], [0.9, 0.8])
    folder = place_in_study(scene, [overlay, table, *plot.nodes()], reference)

    assert sh.GetItemParent(folder) == study
    for node in (overlay, table, *plot.nodes()):
        assert study in _parent_chain(scene, node)
        assert find_study_item(scene, node) == study
    assert sh.GetItemParent(sh.GetItemByDataNode(reference)) == study


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


# --------------------------------------------------------------------------- dependencies, background

def test_requirements_never_name_protected_packages(tmp_path):
    shipped = Path(__file__).resolve().parents[1] / "BrainTumorAI" / "Resources" / "requirements.txt"
    names = [r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in read_requirements(shipped)]
    assert {"monai", "nilearn", "lifelines", "pandas"} <= set(names)
    bad = tmp_path / "requirements.txt"
    bad.write_text("monai>=1.3\nSimpleITK>=2.2\n")
    with pytest.raises(Exception, match="SimpleITK"):
        read_requirements(bad)
    assert is_satisfied("numpy>=1.0")
    assert not is_satisfied("numpy<1.0")
    assert not is_satisfied("braintumorai-no-such-package")


def test_background_task_reports_progress_cancels_and_fails_cleanly():
    def work(context, steps):
        for step in range(steps):
            context.report(step / steps, f"step {step}")
            time.sleep(0.01)
        return "finished"

    done = BackgroundTask(work, 3).start().wait(10)
    assert (done.state, done.result, done.fraction) == ("done", "finished", 1.0)

    slow = BackgroundTask(work, 10_000).start()
    time.sleep(0.05)
    assert slow.poll().state == "running"
    slow.cancel()
    assert slow.wait(10).state == "cancelled"

    def broken(context):
        raise InputError("No input volume is selected; select at least one modality.")

    failed = BackgroundTask(broken).start().wait(10)
    assert failed.state == "failed" and isinstance(failed.error, InputError)
    assert failed.message.startswith("No input volume")


def test_input_check_resamples_other_grids_and_refuses_disjoint_volumes(scene):
    from braintumorai.errors import GeometryError
    from BrainTumorAILib import check_inputs

    reference = axial_image()
    coarse = sitk.Resample(reference, [20, 20, 20], sitk.Transform(), sitk.sitkLinear, reference.GetOrigin(),
                           [3.0, 3.0, 3.0], reference.GetDirection())
    far = sitk.Image(reference)
    far.SetOrigin((500.0, 500.0, 500.0))
    nodes = {
        "T1C": volume_node_from_sitk_image(scene, reference, "t1c"),
        "T2": volume_node_from_sitk_image(scene, coarse, "t2"),
        "PET": volume_node_from_sitk_image(scene, far, "pet"),
    }
    ok = BackgroundTask(check_inputs, collect_inputs({"T1C": nodes["T1C"], "T2": nodes["T2"]})).start().wait(60)
    assert ok.state == "done", ok.details
    assert ok.result.status == {"T1C": "yes", "T2": "resampled"}
    assert "T2 (t2): resampled onto the reference" in ok.result.summary()

    refused = BackgroundTask(check_inputs, collect_inputs(nodes)).start().wait(60)
    assert refused.state == "failed" and isinstance(refused.error, GeometryError)
    assert "PET ('pet') is not co-registered" in refused.message


# --------------------------------------------------------------------------- the module's Logic

@pytest.fixture
def module_with_stubbed_gui(monkeypatch, scene):
    """BrainTumorAI.py imported on slicer-core, with the Qt-only pieces stubbed.

    Only the Logic is exercised; it must run on a real MRML scene.
    """
    import types

    monkeypatch.setattr(slicer, "mrmlScene", scene, raising=False)
    monkeypatch.setitem(sys.modules, "qt", types.ModuleType("qt"))

    base = type("Base", (), {"__init__": lambda self, *args, **kwargs: None})
    scripted = types.ModuleType("slicer.ScriptedLoadableModule")
    for name in ("ScriptedLoadableModule", "ScriptedLoadableModuleWidget", "ScriptedLoadableModuleTest"):
        setattr(scripted, name, type(name, (base,), {}))
    scripted.ScriptedLoadableModuleLogic = type(
        "ScriptedLoadableModuleLogic", (base,),
        {"getParameterNode": lambda self: scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode")},
    )
    monkeypatch.setitem(sys.modules, "slicer.ScriptedLoadableModule", scripted)

    def parameter_node_wrapper(cls):  # attributes with the class defaults, like the real wrapper
        defaults = {name: getattr(cls, name, None) for name in cls.__annotations__}

        def init(self, node):
            self.parameterNode = node
            self.__dict__.update(defaults)

        return type(cls.__name__, (), {"__init__": init})

    wrapper = types.ModuleType("slicer.parameterNodeWrapper")
    wrapper.parameterNodeWrapper = parameter_node_wrapper
    wrapper.Choice = lambda choices: choices
    monkeypatch.setitem(sys.modules, "slicer.parameterNodeWrapper", wrapper)

    torch_state = {"installed": True, "install_calls": []}

    class PyTorchUtilsLogic:
        torch = types.SimpleNamespace(__version__="2.5.1+cu121")

        def torchInstalled(self):
            return torch_state["installed"]

        def installTorch(self, **kwargs):
            torch_state["install_calls"].append(kwargs)
            return None  # the user declined

    monkeypatch.setitem(sys.modules, "PyTorchUtils", types.SimpleNamespace(PyTorchUtilsLogic=PyTorchUtilsLogic))
    monkeypatch.delitem(sys.modules, "BrainTumorAI", raising=False)
    import importlib

    module = importlib.import_module("BrainTumorAI")
    yield module, torch_state
    sys.modules.pop("BrainTumorAI", None)


def test_module_logic_assigns_collects_and_checks_inputs(scene, module_with_stubbed_gui):
    module, torch_state = module_with_stubbed_gui
    t1c = volume_node_from_sitk_image(scene, axial_image(), "BraTS-GLI-00001-000-t1c")
    flair = volume_node_from_sitk_image(scene, axial_image(), "BraTS-GLI-00001-000-t2f")

    logic = module.BrainTumorAILogic()
    parameters = logic.getParameterNode()
    assert not any(logic.inputVolumeNodes(parameters).values())
    logic.autoAssign(parameters)
    assert (parameters.t1cVolume, parameters.flairVolume, parameters.t1Volume) == (t1c, flair, None)
    assert list(logic.inputVolumeNodes(parameters)) == ["T1", "T1C", "T2", "FLAIR", "CT", "PET"]
    assert parameters.referenceModality == "Auto" and logic.device(parameters) == "auto"

    assert logic.model(parameters) is None  # empty model path: the bundled model
    parameters.useCPU = True
    assert logic.device(parameters) == "cpu"

    assert logic.setupPythonRequirements(askConfirmation=False)  # torch and the venv's packages are there
    task = logic.startInputCheck(parameters)  # what Predict survival runs until its model arrives
    status = task.wait(60)
    assert status.state == "done", status.details
    assert task.inputs.modalities == ["T1C", "FLAIR"]
    message = logic.describeInputCheck("Survival prediction", status.result, 0.1)
    assert "T1C (BraTS-GLI-00001-000-t1c): reference" in message and "later version" in message

    torch_state["installed"] = False
    assert logic.setupPythonRequirements(askConfirmation=True) is False
    assert torch_state["install_calls"] == [{"askConfirmation": True, "torchVersionRequirement": ">=2.2"}]


def test_whole_results_become_nodes_in_the_reference_study(scene):
    from BrainTumorAILib import classification_output_nodes, survival_output_nodes

    reference = volume_node_from_sitk_image(scene, oblique_image(), "t1c")
    composites = _add_slice_views(scene)
    maps = {name: sitk.Cast(oblique_image() > 50, sitk.sitkFloat32) for name in ("fused", "T1C", "FLAIR")}
    nodes = classification_output_nodes(
        scene, reference, ["HGG", "LGG"], [0.9, 0.1], saliency=maps,
        modality_weights={"T1C": 0.7, "FLAIR": 0.3}, prediction_set=["HGG"],
    )
    assert set(nodes["saliency"]) == {"fused", "T1C", "FLAIR"}
    assert composites[0].GetForegroundVolumeID() == nodes["saliency"]["fused"].GetID()
    study = find_study_item(scene, reference) or find_study_item(scene, nodes["probabilities"])
    for node in (nodes["probabilities"], nodes["modality_weights"], *nodes["saliency"].values()):
        assert find_study_item(scene, node) == study

    survival = survival_output_nodes(scene, reference, [180.0, 365.0], [0.8, 0.6], [0.7, 0.5], [0.9, 0.7])
    assert find_study_item(scene, survival["chart"]) == study
    assert survival["chart"].GetNumberOfPlotSeriesNodes() == 3
