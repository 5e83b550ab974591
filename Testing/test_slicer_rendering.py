"""What the slice views show, rendered from the real scene by slicer-core's vtkMRMLSliceLogic.

The slice logic is the code behind every slice view of the Slicer application: it reslices
the background and foreground volumes through the slice plane, colours them through their
display nodes and blends them with the composite node's opacity. These tests read its RGBA
output, so they check the picture the user sees, not only the nodes behind it.
"""

from __future__ import annotations

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
slicer = pytest.importorskip("slicer")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("slicer-core (MRML) is not installed", allow_module_level=True)

import slicer.util  # noqa: E402

from BrainTumorAILib import SliceRenderer, volume_node_from_sitk_image  # noqa: E402
from BrainTumorAILib.output_nodes import saliency_overlay_node  # noqa: E402
from BrainTumorAILib.volume_conversion import ijk_to_ras_matrix  # noqa: E402

ORIENTATIONS = ("Axial", "Coronal", "Sagittal")


def hot(pixel) -> bool:
    """The overlay's red-to-yellow colour blended over grey: red well above blue."""
    red, _, blue = (int(v) for v in pixel[:3])
    return red - blue > 40


def grey(pixel) -> bool:
    return int(pixel[0]) == int(pixel[1]) == int(pixel[2])


def oblique_grid(image: sitk.Image, interpolator=sitk.sitkLinear, size=(100, 110, 60), spacing=(2.0, 2.0, 3.0)):
    """``image`` on a rotated, anisotropic grid around its centre (an oblique acquisition)."""
    rotation = sitk.Euler3DTransform()
    rotation.SetRotation(0.3, -0.2, 0.45)
    direction = np.array(rotation.GetMatrix()).reshape(3, 3)
    centre = np.array(image.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in image.GetSize()]))
    origin = centre - direction @ ((np.array(size) - 1) / 2 * np.array(spacing))
    pixel = image.GetPixelID() if interpolator == sitk.sitkNearestNeighbor else sitk.sitkFloat32
    return sitk.Resample(image, list(size), sitk.Transform(), interpolator, origin.tolist(), list(spacing),
                         direction.ravel().tolist(), 0.0, pixel)


def mask_at_pixels(renderer, mask_node) -> np.ndarray:
    """The label map's value under every pixel of the last picture (nearest voxel)."""
    voxels = slicer.util.arrayFromVolume(mask_node)
    ras = renderer.ras_of_pixels().reshape(-1, 3)
    ras_to_ijk = np.linalg.inv(ijk_to_ras_matrix(mask_node))
    ijk = np.round(ras @ ras_to_ijk[:3, :3].T + ras_to_ijk[:3, 3]).astype(int)
    inside = np.all((ijk >= 0) & (ijk < np.array(voxels.shape[::-1])), axis=1)
    values = np.zeros(len(ijk), voxels.dtype)
    values[inside] = voxels[ijk[inside, 2], ijk[inside, 1], ijk[inside, 0]]
    return values.reshape(renderer.ras_of_pixels().shape[:2])


def test_a_rendered_slice_is_the_background_with_the_overlay_blended_where_the_map_is():
    scene = slicer.vtkMRMLScene()
    zz, yy, xx = np.mgrid[:40, :60, :50]
    head = ((((zz - 20) / 18.0) ** 2 + ((yy - 30) / 27.0) ** 2 + ((xx - 25) / 22.0) ** 2) <= 1) * 100.0
    image = sitk.GetImageFromArray(head.astype(np.float32))
    image.SetSpacing((1.5, 1.2, 2.0))
    image.SetOrigin((10.0, -20.0, 5.0))
    blob = np.exp(-((zz - 24) ** 2 + (yy - 20) ** 2 + (xx - 15) ** 2) / 18.0).astype(np.float32)
    heat = sitk.GetImageFromArray(blob)
    heat.CopyInformation(image)
    background = volume_node_from_sitk_image(scene, image, "t1c")
    overlay = saliency_overlay_node(scene, heat, "saliency", show=False)
    peak = (ijk_to_ras_matrix(overlay) @ [15, 20, 24, 1.0])[:3]
    renderer = SliceRenderer(scene, size=(240, 200))
    for orientation in ORIENTATIONS:
        with_overlay = renderer.render(background, overlay, 0.4, orientation, through=peak)
        row, column = (int(round(v)) for v in renderer.pixel_of(peak))
        without = renderer.render(background, None, 0.4, orientation, through=peak)
        assert with_overlay.shape == (200, 240, 4) and with_overlay.dtype == np.uint8
        assert with_overlay[..., :3].std() > 10  # a picture, not a blank
        assert np.any(with_overlay != without)
        assert hot(with_overlay[row, column]) and grey(without[row, column]), orientation
        assert int(without[row, column, 0]) > 100  # the head is bright there
        far = renderer.render(background, overlay, 0.0, orientation, through=peak)
        np.testing.assert_array_equal(far, without)  # opacity 0: the background alone
        np.testing.assert_allclose(renderer.ras_of_pixels()[row, column], peak, atol=2.0)
    renderer.close()
    for kind in ("vtkMRMLSliceNode", "vtkMRMLSliceCompositeNode"):  # its own nodes are gone again
        assert scene.GetNodesByClass(kind).GetNumberOfItems() == 0


@pytest.fixture(scope="module")
def bundled_classification(tmp_path_factory):
    """The bundled classifier, run as in Slicer (child process), on a glioblastoma phantom
    loaded with an oblique, anisotropic IJK-to-RAS."""
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    from braintumorai.checkpoints import resolve_model
    from braintumorai.errors import ModelError
    from braintumorai.synthetic import generate_case
    from BrainTumorAILib import ClassifyOptions, Workflow

    try:
        resolve_model(None)
    except ModelError:
        pytest.skip("the bundled classifier is not installed")
    scene = slicer.vtkMRMLScene()
    case = generate_case("glioblastoma", 7, spacing=2.0)
    nodes = {m: volume_node_from_sitk_image(scene, oblique_grid(image), f"case {m}") for m, image in case.images.items()}
    tumour = volume_node_from_sitk_image(scene, oblique_grid(case.masks["seg"], sitk.sitkNearestNeighbor), "case seg",
                                         class_name="vtkMRMLLabelMapVolumeNode")
    workflow = Workflow(scene, work_root=str(tmp_path_factory.mktemp("work")))
    workflow.start_classification(nodes, None, ClassifyOptions(device="cpu"))
    status = workflow.wait(300)
    assert status.state == "done", f"{status.message}\n{status.details}"
    return scene, workflow, nodes, tumour


def test_after_classify_on_an_oblique_phantom_the_peak_slice_is_hot_at_the_tumour(bundled_classification):
    scene, workflow, nodes, tumour = bundled_classification
    assert not np.allclose(ijk_to_ras_matrix(nodes["T1C"])[:3, :3] / 2.0, np.diag([-1, -1, 1.5]))  # oblique
    fused = workflow.saliency_nodes()["fused"]
    peak = workflow.jump_to_hotspot()
    renderer = SliceRenderer(scene, size=(300, 300))
    try:
        for orientation in ORIENTATIONS:
            picture = renderer.render(nodes["T1C"], fused, 0.4, orientation, through=peak)
            plain = renderer.render(nodes["T1C"], None, 0.4, orientation, through=peak)
            labels = mask_at_pixels(renderer, tumour)
            row, column = (int(round(v)) for v in renderer.pixel_of(peak))
            # The peak lies in the tumour (within the 2 mm voxel next to it), and the picture is
            # hot there, over plain grey anatomy without the overlay.
            assert labels[max(row - 1, 0):row + 2, max(column - 1, 0):column + 2].any(), orientation
            assert hot(picture[row, column]) and grey(plain[row, column]), orientation
            in_tumour = labels > 0
            hot_pixels = np.array([[hot(p) for p in line] for line in picture])
            # The fine map covers part of the tumour (where the evidence is), and lies on it
            # rather than beside it: hot pixels are far more frequent inside than outside.
            inside, outside = hot_pixels[in_tumour].mean(), hot_pixels[~in_tumour].mean()
            assert inside > 0.05 and inside > 20 * outside, (orientation, inside, outside)
    finally:
        renderer.close()
