"""Class-balanced sampling that also works under ``torchrun``."""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler


class DistributedBalancedSampler(Sampler[int]):
    """Each class drawn equally often (with replacement, ``len(labels)`` draws per epoch),
    the draws split between the ``world`` processes of a ``torchrun`` job.

    Every rank draws the same sequence (same seed and epoch) and keeps every
    ``world``-th entry from its own ``rank`` on, so the ranks see disjoint shares of one
    balanced epoch, as ``DistributedSampler`` does for plain shuffling. Call
    :meth:`set_epoch` at the start of each epoch for a new draw.

    Args:
        labels: ``(N,)`` integer class of each case.
        seed: base seed (the same on every rank).
        rank, world: this process and the number of processes.
    """

    def __init__(self, labels, seed: int = 0, rank: int = 0, world: int = 1) -> None:
        labels = np.asarray(labels)
        counts = np.bincount(labels)
        self.weights = torch.as_tensor(1.0 / counts[labels], dtype=torch.double)
        self.seed, self.rank, self.world, self.epoch = int(seed), int(rank), int(world), 0
        self.per_rank = math.ceil(len(labels) / self.world)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.per_rank

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        draws = torch.multinomial(self.weights, self.per_rank * self.world, replacement=True, generator=generator)
        return iter(draws[self.rank::self.world].tolist())
