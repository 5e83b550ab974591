"""Shared pieces of the BrainTumorAILib tests on the real MRML of the slicer-core wheel:
an oblique test image with a bright blob, geometry checks, a fresh scene."""

from __future__ import annotations

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
slicer = pytest.importorskip("slicer")
vtk = pytest.importorskip("vtk")
pytest.importorskip("slicer.util")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("slicer-core (MRML) is not installed", allow_module_level=True)

import slicer.util  # noqa: E402

from BrainTumorAILib.volume_conversion import ijk_to_ras_matrix  # noqa: E402

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

