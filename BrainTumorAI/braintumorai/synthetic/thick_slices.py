"""A volume as a clinical series acquires it: axial slices several millimetres thick.

Raw clinical series are often 5-7 mm slices under sub-millimetre pixels (the TCGA-GBM T1
post-contrast of the real dev studies: 0.78 x 0.78 x 6.5 mm). :func:`as_thick_slices`
turns a phantom (or any volume) into such a series on its own grid in plane, so that
what runs on raw studies (brain extraction, the input checks) can be measured and tested
on them.
"""

from __future__ import annotations

import SimpleITK as sitk

__all__ = ["as_thick_slices"]


def as_thick_slices(image: sitk.Image, thickness_mm: float, nearest: bool = False) -> sitk.Image:
    """``image`` as axial slices ``thickness_mm`` thick, its in-plane grid kept.

    The slice profile is a Gaussian of full width at half maximum ``thickness_mm`` along the
    image's third axis, then the volume is sampled every ``thickness_mm`` (linear). With
    ``nearest`` (a label map or a mask) it is only sampled, by nearest neighbour. The new
    slices span the same extent: the first is centred on the old first slab's centre."""
    spacing, size = list(image.GetSpacing()), list(image.GetSize())
    if not nearest:
        image = sitk.RecursiveGaussian(image, thickness_mm / 2.3548, direction=2)
    grid = sitk.Image([size[0], size[1], max(2, int(size[2] * spacing[2] / thickness_mm))], image.GetPixelID())
    grid.SetSpacing([spacing[0], spacing[1], thickness_mm])
    grid.SetDirection(image.GetDirection())
    grid.SetOrigin(image.TransformContinuousIndexToPhysicalPoint([0, 0, (thickness_mm / spacing[2] - 1) / 2]))
    interpolator = sitk.sitkNearestNeighbor if nearest else sitk.sitkLinear
    return sitk.Resample(image, grid, sitk.Transform(), interpolator, 0.0)
