"""The model's fixed grid and its exact way back to the reference volume.

A classifier sees every study on the same grid: axis-aligned in LPS (identity
direction, so an oblique or flipped input shows the network the same anatomy),
at the model's spacing, with a fixed number of voxels centred on the brain.
Because the grid is a real physical geometry, any map computed on it is put back
onto the reference volume by resampling in physical space, never by index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from .errors import GeometryError
from .geometry import voxel_to_physical


@dataclass(frozen=True)
class ModelGrid:
    """The model's input grid.

    Attributes:
        spacing_mm: voxel size (x, y, z) in mm.
        size: number of voxels (x, y, z); the tensor shape is (z, y, x) = (D, H, W).
    """

    spacing_mm: tuple[float, float, float] = (2.0, 2.0, 2.0)
    size: tuple[int, int, int] = (80, 96, 80)

    def place(self, reference: sitk.Image, brain_mask: sitk.Image | None = None) -> sitk.Image:
        """An empty float32 image on the model grid, centred on the brain's bounding box
        (on the reference volume's centre when no mask is given).

        The returned image carries the geometry (origin, spacing, identity direction)
        that ``to_model`` and ``to_reference`` use.
        """
        centre = _brain_centre(reference if brain_mask is None else brain_mask, brain_mask is not None)
        spacing = np.asarray(self.spacing_mm, float)
        size = np.asarray(self.size, int)
        origin = centre - (size - 1) / 2.0 * spacing
        grid = sitk.Image([int(s) for s in size], sitk.sitkFloat32)
        grid.SetSpacing([float(s) for s in spacing])
        grid.SetOrigin([float(o) for o in origin])
        grid.SetDirection(np.eye(3).ravel().tolist())
        return grid


def _brain_centre(image: sitk.Image, is_mask: bool) -> np.ndarray:
    """LPS centre (mm) of the mask's bounding box, or of the whole image."""
    if is_mask:
        array = sitk.GetArrayViewFromImage(image) != 0
        # The bounding box from the mask's projections on each axis (no list of 9 million indices).
        extents = [np.flatnonzero(np.any(array, axis=other)) for other in ((0, 1), (0, 2), (1, 2))]  # x, y, z
        if extents[0].size == 0:
            raise GeometryError("The brain mask is empty; give a mask that covers the brain, or none.")
        low = np.array([e[0] for e in extents], float)
        high = np.array([e[-1] for e in extents], float)
    else:
        low = np.zeros(3)
        high = np.asarray(image.GetSize(), float) - 1
    centre_index = np.append((low + high) / 2.0, 1.0)
    return (voxel_to_physical(image) @ centre_index)[:3]


def to_model(
    image: sitk.Image, grid: sitk.Image, interpolator: int = sitk.sitkLinear, default_value: float = 0.0
) -> np.ndarray:
    """Resample ``image`` onto the model grid; returns a float32 array (D, H, W).

    With linear interpolation each model voxel is the mean of 2x2x2 samples taken on
    a grid twice as fine: a cheap box filter, so a 1 mm scan and a coarse one show the
    network the same partial-volume blur instead of aliased noise (and at a fraction
    of the cost of Gaussian smoothing the full-resolution volume).

    Axis-aligned grids (flips and permutations included) take the separable path of
    :mod:`braintumorai.grid_resampling` (same values as ITK's, several times faster).
    """
    fast = _axis_aligned(image, grid, interpolator, default_value, fine=True)
    if fast is not None:
        return fast
    if interpolator != sitk.sitkLinear:
        resampled = sitk.Resample(image, grid, sitk.Transform(), interpolator, default_value, sitk.sitkFloat32)
        return sitk.GetArrayFromImage(resampled)
    fine = sitk.Image([2 * s for s in grid.GetSize()], sitk.sitkFloat32)
    spacing = np.asarray(grid.GetSpacing())
    fine.SetSpacing((spacing / 2).tolist())
    # Voxel centres of the fine grid sit a quarter voxel either side of the coarse centres.
    direction = np.asarray(grid.GetDirection()).reshape(3, 3)
    fine.SetOrigin((np.asarray(grid.GetOrigin()) - direction @ (spacing / 4)).tolist())
    fine.SetDirection(grid.GetDirection())
    samples = sitk.GetArrayFromImage(
        sitk.Resample(image, fine, sitk.Transform(), sitk.sitkLinear, default_value, sitk.sitkFloat32))
    d, h, w = (n // 2 for n in samples.shape)
    return samples.reshape(d, 2, h, 2, w, 2).mean(axis=(1, 3, 5), dtype=np.float32)


def grid_image(array: np.ndarray, grid: sitk.Image) -> sitk.Image:
    """Wrap a (D, H, W) array computed on the model grid as an image with the grid's geometry."""
    expected = tuple(reversed(grid.GetSize()))
    if tuple(array.shape) != expected:
        raise GeometryError(
            f"A map of shape {tuple(array.shape)} does not fit the model grid {expected}; "
            "compute it on the model's input tensor."
        )
    image = sitk.GetImageFromArray(np.asarray(array, dtype=np.float32))
    image.CopyInformation(grid)
    return image


def to_reference(
    array: np.ndarray, grid: sitk.Image, reference: sitk.Image, interpolator: int = sitk.sitkLinear
) -> sitk.Image:
    """Put a (D, H, W) map from the model grid back onto the reference volume's grid.

    Voxels of the reference outside the model grid get 0.
    """
    return maps_to_reference({"map": array}, grid, reference, interpolator)["map"]


def maps_to_reference(
    arrays: dict, grid: sitk.Image, reference: sitk.Image, interpolator: int = sitk.sitkLinear
) -> dict:
    """Several (D, H, W) maps from the model grid onto the reference grid in one pass:
    name -> float32 ``SimpleITK.Image`` (see :func:`to_reference`)."""
    for array in arrays.values():
        grid_image(array, grid)  # the shape check and its message
    steps = None
    if interpolator in _MODES:
        from . import grid_resampling

        steps = grid_resampling.plan(grid, reference, _MODES[interpolator])
    if steps is None:  # oblique reference: ITK, map by map
        return {name: _itk_to_reference(array, grid, reference, interpolator) for name, array in arrays.items()}
    from . import grid_resampling

    stacked = np.stack([np.asarray(a, np.float32) for a in arrays.values()])
    # Maps are 0 outside the brain: rows that read only zeros are not computed.
    resampled = grid_resampling.apply(steps, stacked, skip_zero_input=True)
    images = {}
    for name, values in zip(arrays, resampled):
        image = sitk.GetImageFromArray(values)
        image.CopyInformation(reference)
        images[name] = image
    return images


_MODES = {sitk.sitkLinear: "linear", sitk.sitkNearestNeighbor: "nearest"}


def _axis_aligned(image: sitk.Image, grid: sitk.Image, interpolator: int, default_value: float, fine: bool):
    """``to_model``'s separable path, or None where it does not apply (an oblique grid, another
    interpolator, a non-zero background, a vector image)."""
    if interpolator not in _MODES or default_value != 0.0 or image.GetNumberOfComponentsPerPixel() != 1:
        return None
    from . import grid_resampling

    mode = "box2" if fine and interpolator == sitk.sitkLinear else _MODES[interpolator]
    steps = grid_resampling.plan(image, grid, mode)
    if steps is None:
        return None
    values = grid_resampling.apply(steps, sitk.GetArrayViewFromImage(image))
    return values.astype(np.float32, copy=False)


def _itk_to_reference(array: np.ndarray, grid: sitk.Image, reference: sitk.Image, interpolator: int) -> sitk.Image:
    return sitk.Resample(grid_image(array, grid), reference, sitk.Transform(), interpolator, 0.0, sitk.sitkFloat32)
