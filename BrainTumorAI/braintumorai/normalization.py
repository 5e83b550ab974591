"""Per-modality intensity normalisation (imaging contract 4).

Every function takes an array on the model grid and a brain mask of the same
shape, and returns float32 values of order 1 inside the brain and 0 outside, so
that channels of different modalities are comparable for the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np

from .errors import InputError
from .modalities import MRI_MODALITIES

# MRI: clip at these brain percentiles before z-scoring, to tame bright vessels and artefacts.
MRI_PERCENTILES = (0.5, 99.5)
# CT: a fixed window in Hounsfield units around brain tissue (40 HU), 20 HU per unit so
# grey/white matter (about 10 HU apart) and hyperdense tumour stand out; calcification
# and haemorrhage saturate at the top of the window.
CT_WINDOW_HU = (-20.0, 120.0)
CT_CENTRE_HU, CT_SCALE_HU = 40.0, 20.0
# PET: SUV ratios are clipped to this range.
PET_SUVR_RANGE = (0.0, 6.0)


@dataclass(frozen=True)
class NormalisationInfo:
    """What was done to a channel, for the result and the inspect table."""

    modality: str
    method: str
    brain_median: float


def normalise_mri(array: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """z-score inside the brain after clipping at the brain's 0.5 and 99.5 percentiles."""
    values = array[brain]
    low, high = np.percentile(values, MRI_PERCENTILES)
    clipped = np.clip(array, low, high)
    inside = clipped[brain]
    scale = inside.std()
    if scale == 0:
        raise InputError("An MRI volume is constant inside the brain; check that the right volume was loaded.")
    out = (clipped - inside.mean()) / scale
    return np.where(brain, out, 0.0).astype(np.float32)


def normalise_ct(array: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Hounsfield units through a fixed window, centred on brain tissue (40 HU)."""
    out = (np.clip(array, *CT_WINDOW_HU) - CT_CENTRE_HU) / CT_SCALE_HU
    return np.where(brain, out, 0.0).astype(np.float32)


# DICOM Units (0054,1001) of a PET already in SUV (g/mL).
SUV_UNITS = ("SUV", "GML", "G/ML", "SUVBW")


def suv_factor(metadata: Mapping[str, object]) -> Optional[float]:
    """Factor turning PET voxel values into SUV (g/mL), or None when units do not allow it.

    Accepts ``units`` 'SUV' / 'GML' (already SUV), or 'BQML' with
    ``patient_weight_kg`` and ``injected_dose_bq`` (decay-corrected to scan time).
    """
    units = str(metadata.get("units", "")).upper()
    if units in SUV_UNITS:
        return 1.0
    if units == "BQML":
        weight = metadata.get("patient_weight_kg")
        dose = metadata.get("injected_dose_bq")
        if weight and dose and float(dose) > 0:
            return float(weight) * 1000.0 / float(dose)
    return None


def normalise_pet(array: np.ndarray, brain: np.ndarray) -> tuple[np.ndarray, float]:
    """SUV ratio to the brain median, shifted so the brain median sits at 0.

    The ratio is the same whether the voxels are SUV or raw counts, so the network
    sees one scale; the brain median (SUV when units allow) is returned for the record.
    """
    median = float(np.median(array[brain]))
    if median <= 0:
        raise InputError(
            "The PET volume's brain median is not positive; give an attenuation-corrected PET in Bq/mL or SUV."
        )
    ratio = np.clip(array / median, *PET_SUVR_RANGE) - 1.0
    return np.where(brain, ratio, 0.0).astype(np.float32), median


def normalise(
    modality: str, array: np.ndarray, brain: np.ndarray, metadata: Mapping[str, object] | None = None
) -> tuple[np.ndarray, NormalisationInfo]:
    """Normalise one modality's array (D, H, W) inside ``brain`` (bool, same shape)."""
    if not brain.any():
        raise InputError("The brain mask is empty on the model grid; give a mask that covers the brain.")
    if modality in MRI_MODALITIES:
        return normalise_mri(array, brain), NormalisationInfo(modality, "zscore", float(np.median(array[brain])))
    if modality == "CT":
        return normalise_ct(array, brain), NormalisationInfo(modality, "hu_window", float(np.median(array[brain])))
    if modality == "PET":
        factor = suv_factor(metadata or {})
        values = array * factor if factor else array
        out, median = normalise_pet(values, brain)
        return out, NormalisationInfo(modality, "suv_ratio" if factor else "count_ratio", median)
    raise InputError(f"Unknown modality '{modality}'.")


def describe() -> dict:
    """The normalisation in words, for model cards (from the constants above)."""
    low, high = CT_WINDOW_HU
    return {
        "MRI": f"z-score inside the brain after clipping at the {MRI_PERCENTILES[0]}/{MRI_PERCENTILES[1]} percentiles",
        "CT": f"HU clipped to [{low:g}, {high:g}], (HU - {CT_CENTRE_HU:g}) / {CT_SCALE_HU:g}, 0 outside the brain",
        "PET": f"ratio to the brain median (SUV when units allow), clipped to [{PET_SUVR_RANGE[0]:g}, "
               f"{PET_SUVR_RANGE[1]:g}], minus 1",
        "absent modality": "zero channel, presence flag 0",
    }
