"""Training augmentation with MONAI, on channel-first arrays (M, D, H, W).

Spatial transforms act on all channels at once so the modalities stay aligned;
intensity transforms mimic scanner variation. Absent (all-zero) channels stay zero
because the intensity changes are multiplicative or applied inside the brain only.
"""

from __future__ import annotations

import numpy as np


def build_augmentation(seed: int = 0):
    """A MONAI ``Compose`` for one case (M, D, H, W) -> (M, D, H, W) float32 tensor."""
    from monai import transforms as T

    augment = T.Compose([
        # Left-right mirror: brains are nearly symmetric and tumours occur on both sides.
        T.RandFlip(prob=0.5, spatial_axis=2),
        T.RandAffine(prob=0.7, rotate_range=(0.17, 0.17, 0.17), scale_range=(0.08, 0.08, 0.08),
                     translate_range=(4, 4, 4), mode="bilinear", padding_mode="zeros"),
        T.RandScaleIntensity(factors=0.1, prob=0.5),
        T.RandAdjustContrast(prob=0.3, gamma=(0.85, 1.2), invert_image=False, retain_stats=True),
    ])
    augment.set_random_state(seed=seed)
    return augment


def keep_absent_zero(augmented: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Zero the channels of absent modalities again (contrast changes can shift them)."""
    augmented[~present] = 0
    return augmented
