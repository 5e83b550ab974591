"""Slices of a volume as a radiologist reads them: axial, coronal and sagittal through a point.

Every volume is first reoriented to LPS (index i towards the patient's left, j towards
posterior, k towards superior), whatever its direction matrix, so one rule draws them all:
radiological convention (the patient's right on the image's left), anterior up on the
axial view, superior up on the coronal and sagittal views, anterior on the left of the
sagittal view (as Slicer's slice views show them). Pixel aspect follows the voxel spacing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import SimpleITK as sitk

ORIENTATIONS = ("axial", "coronal", "sagittal")
# Anatomical direction at the image's left, right, top and bottom edge.
EDGE_LABELS = {
    "axial": ("R", "L", "A", "P"),
    "coronal": ("R", "L", "S", "I"),
    "sagittal": ("A", "P", "S", "I"),
}


@dataclass
class Slice:
    """One 2-D view.

    Attributes:
        orientation: 'axial', 'coronal' or 'sagittal'.
        pixels: (rows, columns) array, row 0 at the top.
        aspect: height / width of one pixel (row spacing / column spacing, in mm).
        point: (row, column) of the point the slice was cut through.
        labels: anatomical direction at the left, right, top and bottom edge.
    """

    orientation: str
    pixels: np.ndarray
    aspect: float
    point: tuple[int, int]
    labels: tuple[str, str, str, str]


def lps_volume(image: sitk.Image) -> tuple[np.ndarray, tuple[float, float, float]]:
    """``(array [k, j, i] as float32, spacing (i, j, k) in mm)`` of ``image`` reoriented to LPS.

    Reorienting permutes and flips axes only; no voxel is interpolated.
    """
    oriented = sitk.DICOMOrient(image, "LPS")
    return sitk.GetArrayFromImage(oriented).astype(np.float32), tuple(float(s) for s in oriented.GetSpacing())


def on_grid(image: sitk.Image, reference: sitk.Image, interpolator=sitk.sitkLinear) -> sitk.Image:
    """``image`` on the reference's grid (resampled in physical space unless it already lies there)."""
    same = (image.GetSize() == reference.GetSize()
            and np.allclose(image.GetSpacing(), reference.GetSpacing(), atol=1e-6)
            and np.allclose(image.GetOrigin(), reference.GetOrigin(), atol=1e-4)
            and np.allclose(image.GetDirection(), reference.GetDirection(), atol=1e-6))
    if same:
        copy = sitk.Image(image)
        copy.CopyInformation(reference)
        return copy
    return sitk.Resample(image, reference, sitk.Transform(), interpolator, 0.0, image.GetPixelID())


def peak_point(volume: np.ndarray) -> tuple[int, int, int]:
    """``(k, j, i)`` of the largest value (the first one found when several are equal)."""
    return tuple(int(v) for v in np.unravel_index(int(np.argmax(volume)), volume.shape))


def centre_point(mask: np.ndarray) -> Optional[tuple[int, int, int]]:
    """``(k, j, i)`` of the voxel of ``mask`` nearest its centre of mass; None for an empty mask."""
    where = np.argwhere(mask > 0)
    if where.size == 0:
        return None
    centre = where.mean(axis=0)
    return tuple(int(v) for v in where[np.argmin(((where - centre) ** 2).sum(axis=1))])


def slices_through(volume: np.ndarray, spacing: Sequence[float], point: Sequence[int]) -> list[Slice]:
    """Axial, coronal and sagittal slices of an LPS ``volume`` (from :func:`lps_volume`) through ``point`` (k, j, i)."""
    k, j, i = (int(v) for v in point)
    sx, sy, sz = (float(s) for s in spacing)
    top = volume.shape[0] - 1
    return [
        Slice("axial", volume[k], sy / sx, (j, i), EDGE_LABELS["axial"]),
        Slice("coronal", volume[::-1, j, :], sz / sx, (top - k, i), EDGE_LABELS["coronal"]),
        Slice("sagittal", volume[::-1, :, i], sz / sy, (top - k, j), EDGE_LABELS["sagittal"]),
    ]


def display_range(volume: np.ndarray) -> tuple[float, float]:
    """Window of a background volume: its 0.5 and 99.5 percentiles inside the non-zero voxels."""
    values = volume[volume != 0]
    if values.size == 0:
        values = volume.ravel()
    low, high = (float(v) for v in np.percentile(values, (0.5, 99.5)))
    return (low, high) if high > low else (low, low + 1.0)


# CT is shown as radiologists read the brain: a fixed window in Hounsfield units, level 40 and
# width 80 (grey and white matter apart, bone and air saturated); percentiles would be set by
# the air and bone around the brain and leave the brain one flat white.
CT_BRAIN_LEVEL_HU, CT_BRAIN_WIDTH_HU = 40.0, 80.0


def background_window(volume: np.ndarray, modality: Optional[str]) -> tuple[tuple[float, float], str]:
    """``((low, high), words)``: the grey window a background volume is drawn with, and how the
    figure names it ("CT in a brain window, W80/L40 HU", or "" for MRI and PET, drawn between
    their 0.5 and 99.5 percentiles in the non-zero voxels)."""
    if str(modality or "").upper() == "CT":
        half = CT_BRAIN_WIDTH_HU / 2
        return ((CT_BRAIN_LEVEL_HU - half, CT_BRAIN_LEVEL_HU + half),
                f"CT in a brain window, W{CT_BRAIN_WIDTH_HU:g}/L{CT_BRAIN_LEVEL_HU:g} HU")
    return display_range(volume), ""
