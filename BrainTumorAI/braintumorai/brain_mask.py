"""A brain mask estimated from one volume when the user gives none."""

from __future__ import annotations

from typing import Optional

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

# Share of exact zeros above which a volume is taken as skull-stripped (BraTS-like).
_SKULL_STRIPPED_ZERO_SHARE = 0.2
# Grid on which holes are looked for in finer volumes (mm).
_COARSE_MM = 2.0


def estimate_brain_mask(image: sitk.Image) -> sitk.Image:
    """uint8 mask (1 = brain) on the grid of ``image``.

    Skull-stripped volumes (many exact zeros, as BraTS and our phantoms): the
    non-zero voxels. Otherwise: Otsu foreground, largest connected component,
    closed and hole-filled, so dark ventricles and necrosis stay inside. On a
    volume with skull this is the head, not the brain: good enough to centre the
    model grid and to normalise, and documented as such.
    """
    array = sitk.GetArrayViewFromImage(image)
    if np.count_nonzero(array == 0) > _SKULL_STRIPPED_ZERO_SHARE * array.size:
        mask = sitk.Cast(image != 0, sitk.sitkUInt8)
    else:
        mask = sitk.OtsuThreshold(sitk.Cast(image, sitk.sitkFloat32), 0, 1, 128)
    components = sitk.RelabelComponent(sitk.ConnectedComponent(mask), sortByObjectSize=True)
    mask = sitk.Cast(components == 1, sitk.sitkUInt8)
    # Closing and hole filling are most of the cost and only need to find holes of
    # millimetres or more: on a finer grid than 2 mm they run on a 2 mm copy, and the
    # holes found there are added to the full-resolution mask (its outline stays exact).
    factors = [max(1, int(round(_COARSE_MM / s))) for s in mask.GetSpacing()]
    if max(factors) == 1:
        return _close_and_fill(mask, radius=2)
    # A bin counts as brain only when all of it is, so a hole's rim bins count as hole.
    coarse = sitk.Cast(sitk.BinShrink(sitk.Cast(mask, sitk.sitkFloat32), factors) > 0.999, sitk.sitkUInt8)
    holes = sitk.And(_close_and_fill(coarse, radius=1), sitk.Not(coarse) & 1)
    holes = sitk.Resample(holes, mask, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return sitk.Cast(sitk.Or(mask, holes), sitk.sitkUInt8)


def _ball(radius: int) -> np.ndarray:
    """ITK's binary ball of ``radius`` voxels (offsets with |offset| <= radius + 0.5)."""
    offsets = np.arange(-radius, radius + 1)
    distance2 = offsets[:, None, None] ** 2 + offsets[None, :, None] ** 2 + offsets[None, None, :] ** 2
    return distance2 <= (radius + 0.5) ** 2


def _fill_holes(mask: np.ndarray, structure: Optional[np.ndarray] = None) -> np.ndarray:
    """``mask`` with every background component that does not touch the array's border
    filled; with a 2-D ``structure`` the components, and so the holes, are those of each slice."""
    labels, count = ndimage.label(~mask, structure=structure)
    edge = np.ones(mask.shape, bool)
    if structure is None:
        edge[1:-1, 1:-1, 1:-1] = False
    else:  # in-slice connectivity: a slice's border is its rim (axes 1 and 2)
        edge[:, 1:-1, 1:-1] = False
    outside = np.zeros(count + 1, bool)
    outside[np.unique(labels[edge])] = True
    outside[0] = True  # label 0 is the mask itself
    return mask | ~outside[labels]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """A (z, y, x) bool mask with its holes filled in 3-D, then in every axial slice (a
    ventricle open at the field's edge is no 3-D hole, but is one in its slices)."""
    in_slice = np.zeros((3, 3, 3), bool)
    in_slice[1] = ndimage.generate_binary_structure(2, 1)
    return _fill_holes(_fill_holes(mask), in_slice)


def _close_and_fill(mask: sitk.Image, radius: int) -> sitk.Image:
    """Morphological closing (a safe border, as ITK's), then holes filled in 3-D and slice by
    slice (a ventricle touching the field edge is no 3-D hole). Labelled with scipy in one
    pass each: the same masks as ITK's closing and per-slice BinaryFillhole, about ten times
    faster (one ITK call per slice was most of the cost)."""
    array = sitk.GetArrayViewFromImage(mask).astype(bool)
    ball = _ball(radius)
    padded = np.pad(array, radius)
    closed = ndimage.binary_erosion(ndimage.binary_dilation(padded, ball), ball, border_value=1)
    closed = closed[radius:-radius, radius:-radius, radius:-radius]
    out = sitk.GetImageFromArray(fill_holes(closed).astype(np.uint8))
    out.CopyInformation(mask)
    return out
