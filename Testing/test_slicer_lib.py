"""BrainTumorAILib on the real MRML of the slicer-core wheel (no Qt, no GUI)."""

from __future__ import annotations

import sys
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
    auto_assign,
    collect_inputs,
    find_study_item,
    show_as_foreground,
    sitk_image_from_volume_node,
    volume_node_from_sitk_image,
)
from BrainTumorAILib.dependencies import is_satisfied, read_requirements  # noqa: E402
from BrainTumorAILib.output_nodes import (  # noqa: E402
    modality_weights_table_node,
    probability_table_node,
    saliency_overlay_node,
)
from BrainTumorAILib.study_hierarchy import item_of_node, place_in_study, subject_hierarchy  # noqa: E402
from BrainTumorAILib.volume_conversion import image_ijk_to_ras, ijk_to_ras_matrix  # noqa: E402

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


# --------------------------------------------------------------------------- dependencies

def test_each_action_needs_only_its_own_packages_and_never_a_protected_one(tmp_path):
    shipped = Path(__file__).resolve().parents[1] / "BrainTumorAI" / "Resources" / "requirements.txt"

    def names(action=None):
        return {r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in read_requirements(shipped, action)}

    assert names("classify") == {"monai"}  # no lifelines, no nilearn for Classify
    assert names("survival") == {"monai", "matplotlib"}
    assert names("sample") == {"nilearn"} and names("report") == {"matplotlib"}
    assert names() == {"monai", "matplotlib", "nilearn"}
    bad = tmp_path / "requirements.txt"
    bad.write_text("monai>=1.3\nSimpleITK>=2.2\n")
    with pytest.raises(Exception, match="SimpleITK"):
        read_requirements(bad)
    bad.write_text("monai>=1.3  # for: classify, segment\n")
    with pytest.raises(Exception, match="unknown action"):
        read_requirements(bad, "classify")
    assert is_satisfied("numpy>=1.0")
    assert not is_satisfied("numpy<1.0")
    assert not is_satisfied("braintumorai-no-such-package")


class FakeTorchLogic:
    """The PyTorch extension's logic as far as BrainTumorAI uses it."""

    def __init__(self, installed=True, version="2.5.1+cu121", accept=True):
        import types

        self.installed, self.accept, self.calls = installed, accept, []
        self.torch = types.SimpleNamespace(__version__=version)

    def torchInstalled(self):
        return self.installed

    def installTorch(self, **kwargs):
        self.calls.append(kwargs)
        return self.torch if self.accept else None


def test_missing_packages_are_installed_after_one_question_with_the_constraints(tmp_path):
    from BrainTumorAILib.dependencies import ensure_requirements

    requirements = tmp_path / "requirements.txt"
    requirements.write_text("braintumorai-no-such-package>=1  # for: classify\npackaging>=20  # for: report\n")
    questions, ensured = [], []

    def pip_ensure(requirements, **kwargs):
        ensured.append(([str(r) for r in requirements], kwargs, Path(kwargs["constraints"]).read_text()))

    def confirm(text):
        questions.append(text)
        return True

    torch = FakeTorchLogic(installed=False)
    with pytest.raises(Exception, match="Could not install braintumorai-no-such-package"):
        ensure_requirements(requirements, "classify", torch, confirm, pip_ensure=pip_ensure)
    assert len(questions) == 1 and "PyTorch" in questions[0] and "braintumorai-no-such-package" in questions[0]
    assert torch.calls == [{"askConfirmation": False, "torchVersionRequirement": ">=2.2"}]  # no second question
    (packages, kwargs, constraints), = ensured
    assert packages == ["braintumorai-no-such-package>=1"]
    assert kwargs["prompt_install"] is False and "skip_packages" not in kwargs
    assert "numpy==" in constraints and "simpleitk==" in constraints.lower()

    # Nothing missing: no question; declined: nothing installed; no extension: one sentence.
    assert ensure_requirements(requirements, "report", None, confirm) and len(questions) == 1
    assert ensure_requirements(requirements, "classify", FakeTorchLogic(), lambda text: False) is False
    assert len(ensured) == 1
    with pytest.raises(Exception, match="needs the PyTorch extension"):
        ensure_requirements(requirements, "survival", None, confirm)
    with pytest.raises(Exception, match="too old"):
        ensure_requirements(requirements, "classify", FakeTorchLogic(version="1.13.1"), confirm)
    installed = []  # before Slicer 5.12: pip_install with the constraints file
    with pytest.raises(Exception, match="Could not install"):
        ensure_requirements(requirements, "classify", FakeTorchLogic(), None, pip_install=installed.append)
    assert installed[0][:1] == ["braintumorai-no-such-package>=1"] and installed[0][1] == "-c"


def test_reload_order_puts_every_module_after_what_it_imports():
    from BrainTumorAILib.reloading import _relative_imports, reload_order

    order = reload_order()
    assert order[-1] == "BrainTumorAILib" and len(order) == len(set(order))
    package = Path(__file__).resolve().parents[1] / "BrainTumorAI" / "BrainTumorAILib"
    assert {name.split(".")[-1] for name in order[:-1]} == {p.stem for p in package.glob("*.py")} - {"__init__"}
    position = {name.split(".")[-1]: index for index, name in enumerate(order)}
    for path in package.glob("*.py"):
        if path.stem != "__init__":
            for dependency in _relative_imports(path):
                assert position[dependency] < position[path.stem], (dependency, path.stem)


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


def test_module_logic_assigns_by_name_and_installs_per_action(scene, module_with_stubbed_gui):
    from BrainTumorAILib.panel_options import assign_by_name, classify_options, survival_options

    module, torch_state = module_with_stubbed_gui
    t1c = volume_node_from_sitk_image(scene, axial_image(), "BraTS-GLI-00001-000-t1c")
    flair = volume_node_from_sitk_image(scene, axial_image(), "BraTS-GLI-00001-000-t2f")
    logic = module.BrainTumorAILogic()
    parameters = logic.getParameterNode()
    assert not any(logic.inputVolumeNodes(parameters).values())
    assign_by_name(scene, parameters, module.MODALITY_PARAMETERS)
    assert (parameters.t1cVolume, parameters.flairVolume, parameters.t1Volume) == (t1c, flair, None)
    assert list(logic.inputVolumeNodes(parameters)) == ["T1", "T1C", "T2", "FLAIR", "CT", "PET"]
    assert parameters.referenceModality == "Auto"
    options = classify_options(parameters)
    assert options.model is None and options.device is None and options.saliency == "layercam"  # bundled, CUDA if any
    parameters.useCPU, parameters.registerIfNeeded, parameters.modelPath = True, True, "."  # Path("") reads "."
    options = classify_options(parameters, "meningioma")
    assert (options.model, options.device, options.register, options.target_class) == (None, "cpu", True, "meningioma")
    assert survival_options(parameters).device == "cpu"

    assert logic.ensureRequirements("classify", askConfirmation=False)  # torch and the venv's packages are there
    assert logic.ensureRequirements("report", askConfirmation=False)
    torch_state["installed"] = False
    assert logic.ensureRequirements("survival", askConfirmation=False) is False  # installTorch declined
    assert torch_state["install_calls"] == [{"askConfirmation": False, "torchVersionRequirement": ">=2.2"}]
    assert logic.ensureRequirements("sample", askConfirmation=False)  # needs no torch


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
