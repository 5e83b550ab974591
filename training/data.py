"""Torch datasets over the phantom cache."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .augment import build_augmentation, keep_absent_zero
from .phantom_cache import CachedSet


class CachedCases(Dataset):
    """Cases of a :class:`CachedSet` as (channels (M,D,H,W) float32, present (M,) bool, label)."""

    def __init__(self, cached: CachedSet, indices=None, augment: bool = False, seed: int = 0) -> None:
        self.cached = cached
        self.indices = np.arange(len(cached)) if indices is None else np.asarray(indices)
        self.augment = build_augmentation(seed) if augment else None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int):
        index = int(self.indices[item])
        x = np.asarray(self.cached.channels[index], dtype=np.float32)
        present = self.cached.present[index].copy()
        if self.augment is not None:
            x = np.asarray(self.augment(x), dtype=np.float32)
            x = keep_absent_zero(x, present)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(present), int(self.cached.labels[index])


class SingleModalityVolumes(Dataset):
    """Unlabelled single-modality volumes (1, D, H, W) for self-supervised pretraining:
    every present channel of every cached case."""

    def __init__(self, cached: CachedSet) -> None:
        self.cached = cached
        self.pairs = np.argwhere(cached.present)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, item: int) -> torch.Tensor:
        case, channel = self.pairs[item]
        return torch.from_numpy(np.asarray(self.cached.channels[case, channel], np.float32)[None])
