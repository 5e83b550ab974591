"""Physical-space comparison of volumes and resampling onto the reference grid.

All coordinates are LPS millimetres, as in SimpleITK and DICOM. A volume is
compared with the reference by where its content lies in the patient, never by
voxel index, so volumes of different size, spacing or orientation line up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

# Tolerances for "same grid": a hundredth of a millimetre and of a direction cosine.
_POSITION_TOLERANCE_MM = 1e-2
_DIRECTION_TOLERANCE = 1e-4

# Below this share of overlap the volumes are taken as not co-registered.
MIN_OVERLAP = 0.5

SAME_GRID = "yes"
RESAMPLED = "resampled"
NOT_COREGISTERED = "no"
REGISTERED = "registered"


def same_grid(image: sitk.Image, reference: sitk.Image) -> bool:
    """True when both images have the same size, spacing, origin and direction."""
    return (
        image.GetSize() == reference.GetSize()
        and np.allclose(image.GetSpacing(), reference.GetSpacing(), atol=_POSITION_TOLERANCE_MM)
        and np.allclose(image.GetOrigin(), reference.GetOrigin(), atol=_POSITION_TOLERANCE_MM)
        and np.allclose(image.GetDirection(), reference.GetDirection(), atol=_DIRECTION_TOLERANCE)
    )


def voxel_to_physical(image: sitk.Image) -> np.ndarray:
    """4x4 matrix mapping (i, j, k, 1) voxel indices to (x, y, z, 1) LPS millimetres."""
    direction = np.array(image.GetDirection()).reshape(3, 3)
    matrix = np.eye(4)
    matrix[:3, :3] = direction @ np.diag(image.GetSpacing())
    matrix[:3, 3] = image.GetOrigin()
    return matrix


def foreground_box(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned LPS bounding box (low corner, high corner) in mm of the image's
    content: voxels above a tenth of the 99th percentile of the non-zero voxels.

    Using the content rather than the field of view keeps a large CT or PET field
    from "overlapping" an MRI that is in fact elsewhere.
    """
    array = sitk.GetArrayViewFromImage(image)
    values = array[array != 0]
    if values.size == 0:
        values = array.ravel()
    low, high = np.percentile(values, [1, 99])
    threshold = low + 0.1 * (high - low)
    zyx = np.nonzero(array > threshold)
    if zyx[0].size == 0:
        zyx = np.nonzero(np.ones_like(array, dtype=bool))
    lows = np.array([zyx[2].min(), zyx[1].min(), zyx[0].min()], float) - 0.5
    highs = np.array([zyx[2].max(), zyx[1].max(), zyx[0].max()], float) + 0.5
    corners = np.array([[x, y, z, 1.0] for x in (lows[0], highs[0]) for y in (lows[1], highs[1]) for z in (lows[2], highs[2])])
    physical = (voxel_to_physical(image) @ corners.T).T[:, :3]
    return physical.min(axis=0), physical.max(axis=0)


def overlap_fraction(image: sitk.Image, reference: sitk.Image) -> float:
    """Share of the smaller content box that lies inside the other one (0 to 1)."""
    low_a, high_a = foreground_box(image)
    low_b, high_b = foreground_box(reference)
    intersection = np.prod(np.clip(np.minimum(high_a, high_b) - np.maximum(low_a, low_b), 0, None))
    smaller = min(np.prod(high_a - low_a), np.prod(high_b - low_b))
    return float(intersection / smaller) if smaller > 0 else 0.0


@dataclass(frozen=True)
class CoregistrationCheck:
    """How a volume relates to the reference: ``status`` is 'yes' (same grid),
    'resampled' (overlapping, other grid) or 'no' (not co-registered)."""

    status: str
    overlap: float


def check_coregistration(image: sitk.Image, reference: sitk.Image) -> CoregistrationCheck:
    """Compare ``image`` with ``reference`` in physical space (imaging contract 2)."""
    if same_grid(image, reference):
        return CoregistrationCheck(SAME_GRID, 1.0)
    overlap = overlap_fraction(image, reference)
    return CoregistrationCheck(RESAMPLED if overlap >= MIN_OVERLAP else NOT_COREGISTERED, overlap)


def resample_onto(
    image: sitk.Image,
    reference: sitk.Image,
    transform: sitk.Transform | None = None,
    interpolator: int = sitk.sitkLinear,
    default_value: float = 0.0,
    pixel_type: int = sitk.sitkFloat32,
) -> sitk.Image:
    """Resample ``image`` onto the grid of ``reference``.

    ``transform`` maps reference (fixed) points to ``image`` points, as returned by
    registration; none means the two are already in the same physical space.
    """
    return sitk.Resample(
        image, reference, transform or sitk.Transform(), interpolator, default_value, pixel_type
    )
