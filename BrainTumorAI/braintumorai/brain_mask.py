"""A brain mask estimated from one volume when the user gives none."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

# Share of exact zeros above which a volume is taken as skull-stripped (BraTS-like).
_SKULL_STRIPPED_ZERO_SHARE = 0.2


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
    mask = sitk.BinaryMorphologicalClosing(mask, [2, 2, 2])
    # Fill holes in 3-D, then slice by slice (a ventricle touching the field edge is
    # no 3-D hole), on an identity-geometry copy: oblique slices cannot be re-joined.
    filled = sitk.BinaryFillhole(sitk.GetImageFromArray(sitk.GetArrayFromImage(mask)))
    slices = [sitk.BinaryFillhole(filled[:, :, z]) for z in range(filled.GetSize()[2])]
    filled = sitk.JoinSeries(slices)
    filled.CopyInformation(mask)
    return sitk.Cast(filled, sitk.sitkUInt8)
