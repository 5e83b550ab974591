"""Tumour compartment volumes (mL) from a BraTS-style label map."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..errors import InputError

# Compartments in feature order, and the labels that mean them: BraTS 2023 uses 1 = necrotic /
# non-enhancing core, 2 = oedema, 3 = enhancing; BraTS 2017-2021 wrote the enhancing tumour as 4.
COMPARTMENTS: tuple[str, ...] = ("core_ml", "oedema_ml", "enhancing_ml")
_LABELS = {"core_ml": (1,), "oedema_ml": (2,), "enhancing_ml": (3, 4)}


def compartment_volumes(seg: sitk.Image, name: str = "the segmentation") -> dict[str, float]:
    """``{core_ml, oedema_ml, enhancing_ml}`` of a label map (any geometry; voxel volume
    from its spacing). Labels other than 0-4 are a clear error: the map is not BraTS-style."""
    if seg.GetDimension() != 3:
        raise InputError(f"{name} is {seg.GetDimension()}-D; give a 3-D BraTS-style label map.")
    array = sitk.GetArrayViewFromImage(seg)
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise InputError(f"{name} holds non-integer values; give a label map (0 background, 1 core, "
                             "2 oedema, 3 or 4 enhancing).")
    labels = np.asarray(array).astype(np.int64, copy=False)
    if labels.min() < 0 or labels.max() > 4:
        raise InputError(f"{name} holds labels outside 0-4; give a BraTS-style label map (1 core, 2 oedema, "
                         "3 or 4 enhancing).")
    counts = np.bincount(labels.ravel(), minlength=5)
    voxel_ml = float(np.prod(seg.GetSpacing())) / 1000.0
    return {key: float(sum(counts[label] for label in labels_of) * voxel_ml) for key, labels_of in _LABELS.items()}
