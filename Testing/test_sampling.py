"""Class-balanced sampling split between torchrun processes."""

import numpy as np

from training.sampling import DistributedBalancedSampler


def test_ranks_share_one_balanced_draw_without_overlap():
    labels = np.array([0] * 900 + [1] * 90 + [2] * 10)  # 90 : 9 : 1 imbalance
    ranks = [DistributedBalancedSampler(labels, seed=3, rank=r, world=4) for r in range(4)]
    for sampler in ranks:
        sampler.set_epoch(2)
    draws = [list(s) for s in ranks]
    assert all(len(d) == len(s) == 250 for d, s in zip(draws, ranks))
    single = DistributedBalancedSampler(labels, seed=3, rank=0, world=1)
    single.set_epoch(2)
    whole = list(single)
    # the four ranks interleave back into the one-process draw of the same epoch
    assert [draws[i % 4][i // 4] for i in range(1000)] == whole
    shares = np.bincount(labels[whole], minlength=3) / len(whole)
    assert np.all(np.abs(shares - 1 / 3) < 0.06), shares


def test_a_new_epoch_draws_anew_and_the_same_epoch_repeats():
    labels = np.array([0, 1] * 50)
    sampler = DistributedBalancedSampler(labels, seed=0, rank=1, world=2)
    sampler.set_epoch(0)
    first = list(sampler)
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
