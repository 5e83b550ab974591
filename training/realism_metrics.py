"""What the realism report measures on one study, phantom or real, the same way for both.

Every measure is taken on the study resampled to 2 mm isotropic (so a 1 mm phantom, a
1 mm BraTS case and a 6.5 mm clinical series are compared on one grid), each MRI volume
z-scored inside its brain mask (the normalisation the model sees):

- ``tissue_z``: median z-score of each tissue per modality: healthy tissue split into
  three intensity classes (CSF-like, grey-like, white-like) by Otsu thresholds on the
  first present of T1, T1C, FLAIR, T2; oedema; tumour core;
- ``lesions``: connected components of the tumour core (>= 0.1 mL), the core and oedema
  volumes (mL) and their ratio oedema / core;
- ``enhancement``: on T1C, the share of the core brighter than the 99th percentile of
  healthy tissue, and the ratio of the core's inner half to its outer rim: ``ring``
  (rim bright, centre dark), ``solid`` or ``none``;
- ``surface_mm``: distance from the core's centre of mass to the brain's surface;
- ``texture``: gradient energy (mean squared neighbour difference) and mean local
  variance (3 x 3 x 3 windows) of the z-scores in healthy tissue away from the edge.

A study is ``(images, brain, labels)``: SimpleITK images by modality on one grid, the
brain mask, and a label map with 1 = core, 2 = oedema (None: no tumour labelled).
"""

from __future__ import annotations

from typing import Mapping, Optional

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

GRID_MM = 2.0
ORDER = ("T1", "T1C", "FLAIR", "T2")


def _resample(image: sitk.Image, linear: bool) -> np.ndarray:
    size = [int(round(n * s / GRID_MM)) for n, s in zip(image.GetSize(), image.GetSpacing())]
    out = sitk.Resample(image, size, sitk.Transform(), sitk.sitkLinear if linear else sitk.sitkNearestNeighbor,
                        image.GetOrigin(), [GRID_MM] * 3, image.GetDirection(), 0.0, sitk.sitkFloat32)
    return sitk.GetArrayFromImage(out)


def measure(images: Mapping[str, sitk.Image], brain: sitk.Image, labels: Optional[sitk.Image]) -> dict:
    """All measures of one study (see the module docstring); volumes in mL, distances in mm."""
    mask = _resample(brain, False) > 0.5
    seg = _resample(labels, False).astype(np.int32) if labels is not None else np.zeros(mask.shape, np.int32)
    core, oedema = (seg == 1) & mask, (seg == 2) & mask
    healthy = mask & ~ndi.binary_dilation(core | oedema, iterations=2)
    z = {}
    for m, image in images.items():
        a = _resample(image, True)
        values = a[mask]
        z[m] = np.where(mask, (a - values.mean()) / (values.std() + 1e-6), 0.0).astype(np.float32)
    voxel_ml = GRID_MM ** 3 / 1000.0
    out: dict = {"modalities": sorted(z), "brain_ml": float(mask.sum() * voxel_ml)}
    # Healthy tissue classes from the first present volume of the order above.
    reference = next(m for m in ORDER if m in z) if any(m in z for m in ORDER) else None
    tissues = {"oedema": oedema, "core": core}
    if reference is not None and healthy.sum() > 100:
        t1, t2 = _otsu2(z[reference][healthy])
        r = z[reference]
        dark, mid, bright = healthy & (r < t1), healthy & (r >= t1) & (r < t2), healthy & (r >= t2)
        # On T1-type volumes white matter is bright and CSF dark; on T2/FLAIR CSF is dark only on FLAIR.
        if reference in ("T1", "T1C"):
            tissues.update(csf=dark, gm=mid, wm=bright)
        else:
            tissues.update(dark=dark, mid=mid, bright=bright)
    out["tissue_z"] = {m: {t: (float(np.median(z[m][k])) if k.sum() >= 20 else None) for t, k in tissues.items()}
                       for m in z}
    out["histograms"] = {m: {t: np.histogram(z[m][k], bins=60, range=(-4, 8), density=True)[0].tolist()
                             for t, k in tissues.items() if k.sum() >= 20} for m in z}
    components, n = ndi.label(core)
    sizes = ndi.sum(core, components, range(1, n + 1)) * voxel_ml if n else np.array([])
    core_ml, oedema_ml = float(core.sum() * voxel_ml), float(oedema.sum() * voxel_ml)
    out["lesions"] = {"count": int(np.sum(sizes >= 0.1)), "core_ml": core_ml, "oedema_ml": oedema_ml,
                      "ratio": oedema_ml / core_ml if core_ml > 0.1 else None}
    out["enhancement"] = _enhancement(z.get("T1C"), core, healthy)
    if core.sum() > 0:
        depth = ndi.distance_transform_edt(mask) * GRID_MM
        centre = tuple(int(round(c)) for c in ndi.center_of_mass(core))
        out["surface_mm"] = float(depth[centre]) if mask[centre] else 0.0
    else:
        out["surface_mm"] = None
    interior = ndi.binary_erosion(healthy, iterations=1)
    out["texture"] = {}
    for m, v in z.items():
        if interior.sum() < 100:
            break
        energy = np.mean([np.mean(np.diff(v, axis=k)[np.take(interior, range(v.shape[k] - 1), axis=k)] ** 2)
                          for k in range(3)])
        mean = ndi.uniform_filter(v, 3)
        local = np.maximum(ndi.uniform_filter(v * v, 3) - mean * mean, 0.0)
        out["texture"][m] = {"gradient_energy": float(energy), "local_variance": float(np.mean(local[interior]))}
    return out


def _otsu2(values: np.ndarray) -> tuple:
    """Two Otsu thresholds (three classes) of a 1-D sample."""
    image = sitk.GetImageFromArray(values.astype(np.float32).reshape(1, 1, -1))
    f = sitk.OtsuMultipleThresholdsImageFilter()
    f.SetNumberOfThresholds(2)
    f.SetNumberOfHistogramBins(128)
    f.Execute(image)
    t = f.GetThresholds()
    return float(t[0]), float(t[1])


def _enhancement(t1c: Optional[np.ndarray], core: np.ndarray, healthy: np.ndarray) -> dict:
    if t1c is None or core.sum() < 20 or healthy.sum() < 100:
        return {"pattern": None, "enhancing_share": None, "centre_to_rim": None}
    bright = float(np.percentile(t1c[healthy], 99))
    share = float(np.mean(t1c[core] > bright))
    depth = ndi.distance_transform_edt(core)
    inner = core & (depth > 0.5 * depth.max())
    rim = core & ~inner
    ratio = float(np.median(t1c[inner]) - np.median(t1c[healthy])) / (
        float(np.median(t1c[rim]) - np.median(t1c[healthy])) + 1e-6) if inner.sum() and rim.sum() else None
    if share < 0.1:
        pattern = "none"
    elif ratio is not None and ratio < 0.5:
        pattern = "ring"
    else:
        pattern = "solid"
    return {"pattern": pattern, "enhancing_share": share, "centre_to_rim": ratio}
