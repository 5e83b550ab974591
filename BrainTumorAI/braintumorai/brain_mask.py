"""A brain mask estimated from one volume when the user gives none."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

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


def _close_and_fill(mask: sitk.Image, radius: int) -> sitk.Image:
    """Morphological closing, then holes filled in 3-D and slice by slice (a ventricle
    touching the field edge is no 3-D hole), on an identity-geometry copy: oblique
    slices cannot be re-joined."""
    mask = sitk.BinaryMorphologicalClosing(mask, [radius] * 3)
    filled = sitk.BinaryFillhole(sitk.GetImageFromArray(sitk.GetArrayFromImage(mask)))
    slices = [sitk.BinaryFillhole(filled[:, :, z]) for z in range(filled.GetSize()[2])]
    filled = sitk.JoinSeries(slices)
    filled.CopyInformation(mask)
    return sitk.Cast(filled, sitk.sitkUInt8)
