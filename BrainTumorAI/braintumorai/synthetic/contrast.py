"""Tissue and tumour-compartment intensities per modality.

Units: MRI values are relative to white matter (WM = 1) and multiplied by a per-case
scanner gain; CT in Hounsfield units; PET FDG as SUV. Each entry is a (low, high)
range drawn uniformly per case, so every signature varies and the types overlap.

Compartments: ``csf, gm, wm`` (anatomy), ``oedema, necrosis, enhancing, non_enhancing``
(tumour), ``calcification, haemorrhage`` (inside the tumour core) and ``wmh`` (white
matter hyperintensities of small-vessel disease, a non-tumour mimic).
"""

from __future__ import annotations

import numpy as np

COMPARTMENTS: tuple[str, ...] = ("csf", "gm", "wm", "oedema", "necrosis", "enhancing", "non_enhancing",
                                 "calcification", "haemorrhage", "wmh")

# Base ranges. T1C copies T1 (drawn together) except where the tumour enhances.
BASE: dict[str, dict[str, tuple[float, float]]] = {
    "T1": {"csf": (0.28, 0.38), "gm": (0.70, 0.80), "wm": (1.0, 1.0), "oedema": (0.66, 0.78),
           "necrosis": (0.32, 0.48), "enhancing": (0.62, 0.78), "non_enhancing": (0.55, 0.70),
           "calcification": (0.45, 0.9), "haemorrhage": (1.15, 1.45), "wmh": (0.78, 0.9)},
    "T1C": {"enhancing": (1.7, 2.5)},
    "T2": {"csf": (3.2, 4.2), "gm": (1.12, 1.28), "wm": (1.0, 1.0), "oedema": (1.9, 2.5),
           "necrosis": (2.6, 3.6), "enhancing": (1.45, 1.9), "non_enhancing": (2.0, 2.8),
           "calcification": (0.3, 0.6), "haemorrhage": (0.6, 1.4), "wmh": (1.6, 2.1)},
    "FLAIR": {"csf": (0.3, 0.45), "gm": (1.2, 1.4), "wm": (1.0, 1.0), "oedema": (1.7, 2.2),
              "necrosis": (0.8, 1.6), "enhancing": (1.4, 1.8), "non_enhancing": (1.7, 2.3),
              "calcification": (0.4, 0.7), "haemorrhage": (1.2, 1.8), "wmh": (1.6, 2.1)},
    "CT": {"csf": (4.0, 10.0), "gm": (36.0, 42.0), "wm": (26.0, 31.0), "oedema": (17.0, 23.0),
           "necrosis": (12.0, 20.0), "enhancing": (32.0, 40.0), "non_enhancing": (20.0, 27.0),
           "calcification": (300.0, 900.0), "haemorrhage": (55.0, 75.0), "wmh": (22.0, 26.0)},
    "PET": {"csf": (0.3, 0.8), "gm": (6.5, 9.5), "wm": (2.5, 3.5), "oedema": (1.8, 2.8),
            "necrosis": (0.3, 0.9), "enhancing": (5.0, 9.0), "non_enhancing": (2.5, 4.0),
            "calcification": (1.0, 2.0), "haemorrhage": (1.0, 2.0), "wmh": (2.3, 3.0)},
}

# Type signatures (DESIGN.md table); only entries that differ from BASE.
SIGNATURES: dict[str, dict[str, dict[str, tuple[float, float]]]] = {
    "glioblastoma": {"T1C": {"enhancing": (1.5, 2.2)}, "PET": {"enhancing": (7.0, 11.0)}},
    "lower_grade_glioma": {"T1C": {"enhancing": (1.35, 1.75)}, "PET": {"non_enhancing": (2.2, 3.8),
                                                                     "enhancing": (3.5, 5.5)},
                           "CT": {"non_enhancing": (18.0, 25.0)}},
    "metastasis": {"T1C": {"enhancing": (1.7, 2.5)}, "T2": {"enhancing": (1.4, 2.0)},
                   "PET": {"enhancing": (5.5, 10.0)}},
    "meningioma": {"T1": {"enhancing": (0.72, 0.85)}, "T1C": {"enhancing": (2.0, 2.7)},
                   "T2": {"enhancing": (1.15, 1.5)}, "FLAIR": {"enhancing": (1.15, 1.5)},
                   "CT": {"enhancing": (42.0, 55.0)}, "PET": {"enhancing": (3.5, 6.0)}},
    "lymphoma": {"T1C": {"enhancing": (1.7, 2.3)}, "T2": {"enhancing": (0.95, 1.2)},
                 "FLAIR": {"enhancing": (1.15, 1.45)}, "CT": {"enhancing": (40.0, 50.0)},
                 "PET": {"enhancing": (13.0, 22.0)}},
    "no_tumor": {},
}

# Atypical variants that change a contrast signature (geometry variants live in tumours.py).
ATYPICAL_SIGNATURES: dict[str, dict[str, dict[str, tuple[float, float]]]] = {
    "non_calcified_isodense": {"CT": {"enhancing": (33.0, 39.0)}},
}

# Relative amplitude of the smooth heterogeneity texture inside each tumour compartment.
TEXTURE = {"oedema": 0.06, "necrosis": 0.12, "enhancing": 0.12, "non_enhancing": 0.07, "calcification": 0.0,
           "haemorrhage": 0.08}
# Healthy tissue is not the smooth template average: real grey and white matter carry
# fine texture (local variance) on a 2-3 mm scale; relative amplitude per tissue.
HEALTHY_TEXTURE = {"gm": 0.05, "wm": 0.03}
HEALTHY_TEXTURE_CELL_MM = 2.5

# Per-case scanner gain of MRI (WM value), noise and PET resolution.
MRI_GAIN = (300.0, 3000.0)        # log-uniform
MRI_NOISE = (0.008, 0.03)         # Gaussian sigma relative to WM
CT_NOISE_HU = (2.0, 4.5)
PET_NOISE = (0.04, 0.10)          # relative (count statistics)
PET_FWHM_MM = (4.0, 7.0)


def draw_contrast(label: str, atypical: str | None, rng: np.random.Generator) -> dict:
    """Per-case intensity of every compartment in every modality (JSON-serialisable)."""
    table: dict[str, dict[str, float]] = {}
    for modality in ("T1", "T2", "FLAIR", "CT", "PET"):
        ranges = dict(BASE[modality])
        ranges.update(SIGNATURES[label].get(modality, {}))
        if atypical in ATYPICAL_SIGNATURES:
            ranges.update(ATYPICAL_SIGNATURES[atypical].get(modality, {}))
        table[modality] = {c: float(rng.uniform(*ranges[c])) for c in COMPARTMENTS}
    # T1C: same tissue contrast as T1 (a few % apart), tumour enhancement from its own range.
    t1c = {c: v * float(rng.uniform(0.97, 1.03)) for c, v in table["T1"].items()}
    ranges = dict(BASE["T1C"])
    ranges.update(SIGNATURES[label].get("T1C", {}))
    t1c["enhancing"] = float(rng.uniform(*ranges["enhancing"]))
    t1c["wm"] = 1.0
    table["T1C"] = t1c
    return {m: table[m] for m in ("T1", "T1C", "T2", "FLAIR", "CT", "PET")}


def draw_acquisition(rng: np.random.Generator) -> dict:
    """Scanner gain, noise, bias strength, through-plane blur and PET resolution for one case."""
    return {
        "gain": {m: float(np.exp(rng.uniform(*np.log(MRI_GAIN)))) for m in ("T1", "T1C", "T2", "FLAIR")},
        "mri_noise": {m: float(rng.uniform(*MRI_NOISE)) for m in ("T1", "T1C", "T2", "FLAIR")},
        "bias_strength": float(rng.uniform(0.0, 0.12)),
        # Thick slices: Gaussian blur along z (sigma in mm), the same for all MRI of the case.
        "slice_blur_mm": float(rng.choice([0.0, rng.uniform(0.3, 1.5)])),
        "ct_noise_hu": float(rng.uniform(*CT_NOISE_HU)),
        "pet_noise": float(rng.uniform(*PET_NOISE)),
        "pet_fwhm_mm": float(rng.uniform(*PET_FWHM_MM)),
    }
