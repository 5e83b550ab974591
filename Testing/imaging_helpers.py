"""Volumes with known physical content, for the imaging tests."""

from __future__ import annotations

import copy

import numpy as np
import SimpleITK as sitk


def rotation(axis: str, degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    return {
        "x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
        "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }[axis]


def empty_volume(size, spacing, direction=np.eye(3), centre=(0.0, 0.0, 0.0)) -> sitk.Image:
    """float32 zeros whose field of view is centred on ``centre`` (LPS mm)."""
    image = sitk.Image([int(s) for s in size], sitk.sitkFloat32)
    image.SetSpacing([float(s) for s in spacing])
    direction = np.asarray(direction, float)
    image.SetDirection(direction.ravel().tolist())
    half = (np.asarray(size) - 1) / 2.0 * np.asarray(spacing)
    image.SetOrigin((np.asarray(centre) - direction @ half).tolist())
    return image


def physical_points(image: sitk.Image) -> np.ndarray:
    """LPS coordinates (D, H, W, 3) of every voxel centre."""
    size = image.GetSize()
    k, j, i = np.meshgrid(*(np.arange(n) for n in reversed(size)), indexing="ij")
    index = np.stack([i, j, k], -1).reshape(-1, 3).astype(float)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    points = index * np.asarray(image.GetSpacing()) @ direction.T + np.asarray(image.GetOrigin())
    return points.reshape(tuple(reversed(size)) + (3,))


def head_with_blob(size, spacing, direction=np.eye(3), blob_centre=(10.0, -20.0, 15.0), blob_radius=8.0,
                   head_radius=70.0, texture: bool = False) -> sitk.Image:
    """A bright ellipsoidal 'head' with a brighter blob at ``blob_centre`` (LPS mm).

    ``texture``: add a smooth intensity variation (+-10 % over a few centimetres), fixed
    in physical space, so the volume passes the plausibility checks as an image (a
    two-valued volume is refused there as a label map).
    """
    image = empty_volume(size, spacing, direction)
    points = physical_points(image)
    head = np.sum((points / np.array([head_radius, head_radius * 1.2, head_radius])) ** 2, -1) <= 1
    blob = np.sum((points - np.asarray(blob_centre)) ** 2, -1) <= blob_radius ** 2
    array = np.where(head, 100.0, 0.0) + np.where(blob & head, 400.0, 0.0)
    if texture:
        x, y, z = points[..., 0], points[..., 1], points[..., 2]
        array = array * (1.0 + 0.1 * np.sin(x / 9.0) * np.sin(y / 11.0 + 1.0) * np.sin(z / 13.0 + 2.0))
    out = sitk.GetImageFromArray(array.astype(np.float32))
    out.CopyInformation(image)
    return out


def weighted_centroid(image: sitk.Image, threshold: float) -> np.ndarray:
    """LPS centroid (mm) of the voxels above ``threshold``, weighted by intensity."""
    array = sitk.GetArrayFromImage(image)
    points = physical_points(image)
    weights = np.where(array > threshold, array, 0.0)
    return (points * weights[..., None]).reshape(-1, 3).sum(0) / weights.sum()


def centroid_in_voxels(image: sitk.Image, point_lps) -> np.ndarray:
    """``point_lps`` as a continuous voxel index of ``image``."""
    return np.asarray(image.TransformPhysicalPointToContinuousIndex([float(p) for p in point_lps]))


def write_dicom_series(folder, count: int = 4, step_mm: float = 5.0, edit=None):
    """A DICOM series of ``count`` slices made from pydicom's CT_small test file, ``step_mm``
    apart, in ``folder`` (created); ``edit(slice, index)`` changes each slice before it is
    saved. Returns the source dataset. Needs pydicom."""
    import pydicom
    from pydicom.data import get_testdata_file

    source = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    folder.mkdir()
    for index in range(count):
        slice_ = copy.deepcopy(source)
        slice_.SOPInstanceUID = f"{source.SOPInstanceUID}.{index}"
        slice_.InstanceNumber = index + 1
        position = [float(v) for v in source.ImagePositionPatient]
        slice_.ImagePositionPatient = [position[0], position[1], position[2] + step_mm * index]
        slice_.SliceLocation = position[2] + step_mm * index
        if edit is not None:
            edit(slice_, index)
        slice_.save_as(folder / f"slice{index}.dcm")
    return source
