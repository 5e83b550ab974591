"""Raw (not skull-stripped) studies: detect them and extract the brain.

The classifier was trained on skull-stripped volumes (BraTS-style: 0 outside the brain).
A raw clinical study shows skull, marrow, scalp and fat instead, which the network has
never seen. :func:`looks_skull_stripped` tells the two apart and
:func:`extract_brain` finds the brain, so the pipeline classifies the brain only and
returns the mask it used.

Brain extraction here is intensity and morphology on a 2 mm copy, no weights to
download (measured against ``brainextractor``, a Python port of FSL BET, in
``benchmarks/bench_brain_extraction.py``):

- **MRI** (FLAIR, T1, T2, T1C, in that order of preference: measured best first): brain tissue is brighter
  than the CSF and bone that surround it (on T2 the CSF is bright, but the skull is still
  dark). Voxels brighter than 0.6 x white matter (the histogram peak of the head's deep
  interior) and not next to the skull's signal void (darker than 0.2 x white matter,
  below even CSF) are candidates; an erosion of 4 mm cuts the bridges that partial volume
  makes across the skull; the component holding the deep interior is the brain; it is
  grown back inside the candidates, its holes (ventricles, necrosis, resection cavities)
  filled and its outline closed over the sulci.
- **CT**: the skull is what is above 300 HU; the brain is the soft tissue (-20..100 HU)
  enclosed by it, filled slice by slice (the skull opens at the foramen magnum).

A volume counts as skull-stripped when its foreground is no larger than a brain
(under 2.4 L) or when the extracted brain fills at least 85 % of it.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi
import SimpleITK as sitk

from .brain_mask import fill_holes, fill_holes_3d
from .errors import InputError

# Preference of modalities to extract the brain from (the first present is used).
EXTRACTION_ORDER = ("FLAIR", "T1", "T2", "T1C", "CT")
_WORK_MM = 2.0
_BRAIN_LITRES_MAX = 2.4         # a foreground this small is a brain, not a head
_STRIPPED_SHARE = 0.85          # extracted brain / foreground above which the volume was stripped
_TISSUE_SHARE = 0.6            # brain tissue is brighter than this share of white matter
_BONE_SHARE = 0.2              # the skull is darker than this share (below CSF on every sequence)
_ERODE_MM = 4.0                 # erosion that separates brain from scalp and marrow


def _working_copy(image: sitk.Image) -> sitk.Image:
    """The image on an identity-direction-agnostic grid of about 2 mm (box-shrunk)."""
    factors = [max(1, int(round(_WORK_MM / s))) for s in image.GetSpacing()]
    if image.GetPixelID() != sitk.sitkFloat32:
        image = sitk.Cast(image, sitk.sitkFloat32)
    return sitk.BinShrink(image, factors) if max(factors) > 1 else image


def _foreground(array: np.ndarray, background: float | None) -> np.ndarray:
    """The head (or brain) as one filled piece. MRI (``background`` 0): voxels above a tenth
    of the 99th percentile, which keeps CSF and drops the noise of the air; CT
    (``background`` None): Otsu's foreground."""
    if background is not None:
        positive = array[array > background]
        if positive.size == 0:
            raise InputError("The volume has no foreground; check that the right volume was loaded.")
        mask = array > background + 0.1 * (float(np.percentile(positive, 99)) - background)
    else:
        mask = array > _otsu(array)
    labels, count = ndi.label(mask)
    if count == 0:
        raise InputError("The volume has no foreground; check that the right volume was loaded.")
    if count > 1:
        mask = labels == (np.argmax(np.bincount(labels.ravel())[1:]) + 1)
    return fill_holes_3d(mask)


def _otsu(array: np.ndarray) -> float:
    image = sitk.GetImageFromArray(array.astype(np.float32))
    f = sitk.OtsuThresholdImageFilter()
    f.SetNumberOfHistogramBins(128)
    f.Execute(image)
    return float(f.GetThreshold())


def _ball(radius_vox: float) -> np.ndarray:
    r = int(np.ceil(radius_vox))
    zz, yy, xx = np.mgrid[-r:r + 1, -r:r + 1, -r:r + 1]
    return (zz * zz + yy * yy + xx * xx) <= radius_vox * radius_vox + 1e-6


def _white_matter_level(array: np.ndarray, head: np.ndarray, spacing_zyx) -> tuple[float, np.ndarray]:
    """White matter's intensity (the histogram peak of the head's deep interior) and that interior."""
    depth = ndi.distance_transform_edt(head, sampling=spacing_zyx)
    deep = depth > min(25.0, 0.5 * depth.max())
    values = array[deep]
    counts, edges = np.histogram(values, bins=128, range=tuple(np.percentile(values, [1, 99])))
    peak = int(np.argmax(ndi.gaussian_filter1d(counts.astype(float), 2.0)))
    return 0.5 * float(edges[peak] + edges[peak + 1]), deep


def _ellipsoid(radius_mm: float, spacing_zyx) -> np.ndarray:
    """The voxels within ``radius_mm`` millimetres of the centre, on a grid of ``spacing_zyx``."""
    reach = [int(np.floor(radius_mm / s + 1e-6)) for s in spacing_zyx]
    zz, yy, xx = np.ogrid[tuple(slice(-r, r + 1) for r in reach)]
    dz, dy, dx = (float(s) for s in spacing_zyx)
    return (zz * dz) ** 2 + (yy * dy) ** 2 + (xx * dx) ** 2 <= radius_mm ** 2 + 1e-6


def _mri_brain(array: np.ndarray, head: np.ndarray, spacing_zyx, barrier: np.ndarray, level: float,
               deep: np.ndarray) -> np.ndarray:
    candidates = head & (array > _TISSUE_SHARE * level) & ~barrier
    # Erosion cuts the bridges that partial volume makes across the dark skull and CSF: at
    # least _ERODE_MM along every axis, counted in steps of the finest one. Counted in steps of
    # the mean spacing, thick slices (6.5 mm under 0.8 mm pixels) eroded 2 mm in plane and kept
    # the orbits and the face joined to the brain at the skull base.
    steps = max(1, int(round(_ERODE_MM / float(np.min(spacing_zyx)))))
    eroded = ndi.binary_erosion(candidates, _ball(1.0), iterations=steps)
    labels, _ = ndi.label(eroded)
    inside = np.bincount(labels[deep & eroded].ravel(), minlength=labels.max() + 1)
    inside[0] = 0
    brain = labels == int(np.argmax(inside))
    brain = ndi.binary_dilation(brain, _ball(1.0), iterations=steps + 1, mask=candidates)
    brain = ndi.binary_closing(brain, _ellipsoid(4.0, spacing_zyx), border_value=0)  # over the sulci, in mm
    return fill_holes(brain)


def _ct_brain(array: np.ndarray, head: np.ndarray, spacing_zyx) -> np.ndarray:
    voxel = float(np.mean(spacing_zyx))
    bone = ndi.binary_closing(array > 300.0, _ball(1.0))
    enclosed = fill_holes(bone) & ~bone
    soft = enclosed & (array > -20.0) & (array < 100.0)
    soft = ndi.binary_opening(soft, _ball(1.5 / voxel + 0.5))
    labels, count = ndi.label(soft)
    if count == 0:
        raise InputError("no brain tissue was found inside the skull; check that the volume is a CT in Hounsfield units.")
    brain = labels == (np.argmax(np.bincount(labels.ravel())[1:]) + 1)
    brain = ndi.binary_closing(brain, _ball(4.0 / voxel), border_value=0)
    return fill_holes(brain) & head


def _skull_barrier(image: sitk.Image, work: sitk.Image, level: float) -> np.ndarray:
    """The skull's signal void (darker than 0.2 x white matter, below even CSF) found at
    full resolution, where a thin inner table is still dark, then marked on the 2 mm copy
    wherever any of its voxels is and widened by a voxel: dura and marrow beyond it
    (bright on T1C and T1) cannot join the brain through it."""
    dark = sitk.Cast(sitk.Cast(image, sitk.sitkFloat32) < _BONE_SHARE * level, sitk.sitkFloat32)
    factors = [max(1, int(round(_WORK_MM / s))) for s in image.GetSpacing()]
    if max(factors) > 1:
        dark = sitk.BinShrink(dark, factors)
    barrier = sitk.GetArrayFromImage(dark) > 0
    return ndi.binary_dilation(barrier, _ball(1.0)) & ~(sitk.GetArrayFromImage(work) <= 0)


def extract_brain(image: sitk.Image, modality: str) -> sitk.Image:
    """uint8 brain mask (1 = brain) on the grid of ``image``, a head volume of ``modality``
    (MRI or CT in HU). Runs on a 2 mm copy; the mask is brought back by linear
    interpolation of its 0/1 values, so its outline is smooth at full resolution."""
    work = _working_copy(image)
    array = sitk.GetArrayFromImage(work)
    spacing_zyx = np.asarray(work.GetSpacing()[::-1], float)
    if modality == "CT":
        head = _foreground(array, None) | (array > 300.0)
        brain = _ct_brain(array, head, spacing_zyx)
    else:
        head = _foreground(array, 0.0)
        level, deep = _white_matter_level(array, head, spacing_zyx)
        brain = _mri_brain(array, head, spacing_zyx, _skull_barrier(image, work, level), level, deep)
    mask = sitk.GetImageFromArray(brain.astype(np.float32))
    mask.CopyInformation(work)
    back = sitk.Resample(mask, image, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    return sitk.Cast(back > 0.5, sitk.sitkUInt8)


def foreground_litres(image: sitk.Image, modality: str) -> float:
    """Volume (L) of the image's foreground: the head of a raw study, the brain of a stripped one."""
    work = _working_copy(image)
    array = sitk.GetArrayFromImage(work)
    try:
        if modality == "CT":  # air and skull-stripping background at about -1000 HU
            mask = _foreground(np.maximum(array, -1000.0) + 1000.0, 0.0)
        else:
            mask = _foreground(array, 0.0)
    except InputError:
        return 0.0  # nothing above the background (an inverted or empty volume): for the checks to name
    return float(mask.sum() * np.prod(work.GetSpacing()) / 1e6)


def looks_skull_stripped(image: sitk.Image, modality: str) -> tuple[bool, sitk.Image | None]:
    """Whether ``image`` is already skull-stripped; when it is not, also the extracted
    brain mask (so the caller need not extract twice)."""
    foreground = foreground_litres(image, modality)
    if foreground <= _BRAIN_LITRES_MAX:
        return True, None
    mask = extract_brain(image, modality)
    brain = float(sitk.GetArrayViewFromImage(mask).sum() * np.prod(image.GetSpacing()) / 1e6)
    if brain >= _STRIPPED_SHARE * foreground:
        return True, None
    return False, mask
