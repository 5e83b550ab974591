"""Volume nodes <-> SimpleITK images with exact geometry (BrainTumorAILib.volume_conversion), on slicer-core."""

from __future__ import annotations

import numpy as np
import pytest

from slicer_helpers import (  # noqa: F401 (scene is a fixture; importing it skips without slicer-core)
    assert_same_geometry, blob_lps, LPS_TO_RAS, oblique_image, peak_ras_of_node, scene, sitk, slicer, vtk,
)

import slicer.util  # noqa: E402

from braintumorai.errors import InputError  # noqa: E402
from BrainTumorAILib import (  # noqa: E402
    sitk_image_from_volume_node,
    volume_node_from_sitk_image,
)
from BrainTumorAILib.volume_conversion import image_ijk_to_ras, ijk_to_ras_matrix  # noqa: E402


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


