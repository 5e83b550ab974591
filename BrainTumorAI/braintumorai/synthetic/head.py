"""The head around a phantom brain: CSF, dura, skull, marrow, scalp, fat and skin.

The MNI152 maps that ``nilearn`` ships are skull-stripped, so a phantom "with the head
kept" (for testing brain extraction, and for the residual rims of imperfect skull
stripping in domain randomisation) needs a head of its own. It is drawn as layers at
a distance from the brain surface, each with its own intensity per modality, their
thicknesses modulated by a smooth random field so that the skull is not a perfect
offset of the brain:

=================  ==========  ===============================================  ============
layer              thickness   MRI (relative to white matter)                    CT (HU)
=================  ==========  ===============================================  ============
``csf``            1-3 mm      the case's CSF                                    the case's
``dura``           0.8-1.5 mm  dark; enhances on T1C                              45-60
``inner_table``    1.2-2.5 mm  signal void                                       1100-1900
``diploe``         1.5-5 mm    fatty marrow: bright on T1                        350-800
``outer_table``    1-2 mm      signal void                                       1100-1900
``muscle``         1.5-5 mm    intermediate                                      40-60
``fat``            2-6 mm      bright on T1, T2 and FLAIR                        -120 to -70
``skin``           1-2 mm      intermediate                                      20-50
``air``            beyond      0                                                 -1000
=================  ==========  ===============================================  ============

There is no face and no neck: the head closes below the cerebellum like the brain.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi

from .anatomy import smooth_field

LAYERS: tuple[str, ...] = ("csf", "dura", "inner_table", "diploe", "outer_table", "muscle", "fat", "skin")
THICKNESS_MM: dict[str, tuple[float, float]] = {
    "csf": (1.0, 3.0), "dura": (0.8, 1.5), "inner_table": (1.2, 2.5), "diploe": (1.5, 5.0),
    "outer_table": (1.0, 2.0), "muscle": (1.5, 5.0), "fat": (2.0, 6.0), "skin": (1.0, 2.0),
}
# Thickest head the layers can make (mm): the grid margin of a phantom with the whole head.
FULL_HEAD_MM = float(sum(high for _, high in THICKNESS_MM.values())) * 1.3 + 2.0

_BONE = {"T1": (0.03, 0.1), "T1C": (0.03, 0.1), "T2": (0.03, 0.12), "FLAIR": (0.03, 0.12), "CT": (1100.0, 1900.0),
         "PET": (0.4, 1.0)}
CONTRAST: dict[str, dict[str, tuple[float, float]]] = {
    "T1": {"dura": (0.45, 0.65), "inner_table": _BONE["T1"], "diploe": (1.1, 1.5), "outer_table": _BONE["T1"],
           "muscle": (0.6, 0.75), "fat": (1.3, 1.8), "skin": (0.7, 0.9)},
    "T1C": {"dura": (1.1, 1.5), "inner_table": _BONE["T1C"], "diploe": (1.1, 1.5), "outer_table": _BONE["T1C"],
            "muscle": (0.7, 0.85), "fat": (1.3, 1.8), "skin": (0.8, 1.0)},
    "T2": {"dura": (0.5, 0.8), "inner_table": _BONE["T2"], "diploe": (0.9, 1.3), "outer_table": _BONE["T2"],
           "muscle": (0.5, 0.7), "fat": (1.2, 1.6), "skin": (0.8, 1.0)},
    "FLAIR": {"dura": (0.6, 0.9), "inner_table": _BONE["FLAIR"], "diploe": (1.0, 1.4), "outer_table": _BONE["FLAIR"],
              "muscle": (0.5, 0.7), "fat": (1.3, 1.8), "skin": (0.8, 1.0)},
    "CT": {"dura": (45.0, 60.0), "inner_table": _BONE["CT"], "diploe": (350.0, 800.0), "outer_table": _BONE["CT"],
           "muscle": (40.0, 60.0), "fat": (-120.0, -70.0), "skin": (20.0, 50.0)},
    "PET": {"dura": (1.0, 2.0), "inner_table": _BONE["PET"], "diploe": (1.0, 2.0), "outer_table": _BONE["PET"],
            "muscle": (0.8, 1.5), "fat": (0.3, 0.6), "skin": (0.8, 1.2)},
}
AIR = {"T1": 0.0, "T1C": 0.0, "T2": 0.0, "FLAIR": 0.0, "CT": -1000.0, "PET": 0.0}


def draw_head(rng: np.random.Generator) -> dict:
    """Layer thicknesses (mm), intensities per modality and the seed of the thickness
    modulation (JSON-serialisable). The ``csf`` layer takes the case's CSF intensity."""
    return {
        "thickness_mm": {name: float(rng.uniform(*THICKNESS_MM[name])) for name in LAYERS},
        "contrast": {mod: {name: float(rng.uniform(*r)) for name, r in table.items()}
                     for mod, table in CONTRAST.items()},
        "modulation": float(rng.uniform(0.1, 0.25)),
        "seed": int(rng.integers(2**31 - 1)),
    }


def layer_fractions(inside: np.ndarray, remainder: np.ndarray, spacing_zyx, head: dict) -> dict:
    """Volume fraction (float32, z y x) of every head layer and of the air beyond.

    inside: bool brain mask; remainder: the share of each voxel the brain does not fill
    (``1 - sum of brain fractions``), which the layers fill by their distance from the
    brain surface (a one-voxel linear ramp between layers for partial volume);
    spacing_zyx: voxel size (mm) per array axis.
    """
    distance = ndi.distance_transform_edt(~inside, sampling=spacing_zyx).astype(np.float32)
    # Smooth random thickness modulation, so the skull is no exact offset of the brain.
    field = smooth_field(np.random.default_rng(head["seed"]), distance.shape, 6)
    distance /= np.float32(1.0) + np.float32(head["modulation"]) * np.clip(field, -2.0, 2.0)
    voxel = float(np.mean(spacing_zyx))
    out, start = {}, 0.0
    for name in LAYERS + ("air",):
        stop = start + head["thickness_mm"][name] if name != "air" else np.inf
        before = np.clip((distance - start) / voxel + 0.5, 0.0, 1.0) if start > 0 else np.float32(1.0)
        after = np.clip((distance - stop) / voxel + 0.5, 0.0, 1.0) if np.isfinite(stop) else np.float32(0.0)
        out[name] = (remainder * (before - after)).astype(np.float32)
        start = stop
    return out


def head_image(fractions: dict, head: dict, modality: str, csf_value: float) -> np.ndarray:
    """Intensity contributed by the head layers for one modality (same units as the brain's)."""
    values = dict(head["contrast"][modality], csf=csf_value, air=AIR[modality])
    image = np.zeros(next(iter(fractions.values())).shape, np.float32)
    for name, f in fractions.items():
        if values[name] != 0.0:
            image += f * np.float32(values[name])
    return image
