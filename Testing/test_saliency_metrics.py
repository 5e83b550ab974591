"""Saliency evaluation measures (training.saliency_metrics) on a toy volume with known truth."""


import numpy as np
import pytest


from braintumorai.errors import InputError
from training.saliency_metrics import (
    deletion_auc,
    deletion_curve,
    energy_inside,
    modality_drop_importance,
    pointing_game,
    random_map,
    spearman_modality_agreement,
    uniform_map,
)

SHAPE = (14, 14, 14)


@pytest.fixture
def toy():
    """A spherical brain (radius 6) with a 3x3x3 tumour off centre, and a 2-channel image."""
    grid = np.indices(SHAPE)
    brain = ((grid - 7) ** 2).sum(axis=0) <= 36
    target = np.zeros(SHAPE, bool)
    target[8:11, 4:7, 6:9] = True
    assert (target <= brain).all()
    image = np.stack([brain * 1.0, brain * 2.0]) + np.stack([target * 3.0, target * 1.0])
    return brain, target, image


def target_score(target, image_ref):
    """Probability-like score that depends only on the target voxels (1 intact, 0 deleted)."""
    reference = image_ref[:, target].sum()
    return lambda image: float(image[:, target].sum() / reference)


def test_pointing_game_hits_inside_and_misses_outside(toy):
    brain, target, _ = toy
    inside = np.zeros(SHAPE)
    inside[9, 5, 7] = 1.0
    assert pointing_game(inside, target)
    outside = np.zeros(SHAPE)
    outside[3, 7, 7] = 1.0
    assert not pointing_game(outside, target)
    # One voxel beside the target: a hit only with a tolerance.
    beside = np.zeros(SHAPE)
    beside[11, 5, 7] = 1.0
    assert pointing_game(beside, target, tolerance_voxels=1)
    assert not pointing_game(beside, target, tolerance_voxels=0)
    # A peak outside the brain is ignored when the brain mask is given.
    skull = inside.copy()
    skull[0, 0, 0] = 5.0
    assert not pointing_game(skull, target)
    assert pointing_game(skull, target, brain_mask=brain)
    # A flat map points nowhere.
    assert not pointing_game(uniform_map(brain), target, brain_mask=brain)


def test_energy_inside_of_the_indicator_map(toy):
    brain, target, _ = toy
    share, area = energy_inside(target * 1.0, target, brain)
    assert share == pytest.approx(1.0)
    assert area == pytest.approx(27 / brain.sum())
    # A uniform map puts exactly the target's share of the brain inside it.
    share, area = energy_inside(uniform_map(brain), target, brain)
    assert share == pytest.approx(area)
    # Negative values do not count; a map without positive mass has no share.
    assert energy_inside(target - 5.0 * (brain & ~target), target, brain)[0] == pytest.approx(1.0)
    assert np.isnan(energy_inside(np.zeros(SHAPE), target, brain)[0])


def test_deletion_auc_of_the_true_map_beats_random_and_uniform(toy):
    brain, target, image = toy
    score = target_score(target, image)
    truth = deletion_auc(score, image, target * 1.0, brain)
    rand = deletion_auc(score, image, random_map(SHAPE, brain, seed=1), brain)
    flat = deletion_auc(score, image, uniform_map(brain), brain, seed=2)
    assert truth < 0.1
    assert rand > 0.3 and flat > 0.3
    assert truth < rand and truth < flat


def test_deletion_curve_endpoints_and_seeded_ties(toy):
    brain, target, image = toy
    score = target_score(target, image)
    x, y = deletion_curve(score, image, uniform_map(brain), brain, steps=10, seed=0)
    np.testing.assert_allclose(x, np.linspace(0, 1, 11))
    assert y[0] == pytest.approx(1.0) and y[-1] == pytest.approx(0.0)
    assert np.all(np.diff(y) <= 1e-12)  # deleting more never restores the target
    # Ties are broken by the seed: same seed, same curve; another seed, another curve.
    _, again = deletion_curve(score, image, uniform_map(brain), brain, steps=10, seed=0)
    _, other = deletion_curve(score, image, uniform_map(brain), brain, steps=10, seed=5)
    np.testing.assert_array_equal(y, again)
    assert not np.array_equal(y, other)
    # The caller's image is left intact, and a per-channel baseline is honoured.
    assert image[:, target].min() > 0
    seen = []
    deletion_curve(lambda im: seen.append(im[:, brain].copy()) or 0.0, image, target * 1.0, brain,
                   steps=1, baseline=[-1.0, -2.0])
    assert (seen[-1][0] == -1.0).all() and (seen[-1][1] == -2.0).all()


def test_modality_drop_importance_and_spearman_agreement():
    full = np.array([0.7, 0.2, 0.1])
    without = {"T1": [0.6, 0.3, 0.1], "FLAIR": [0.2, 0.7, 0.1], "T2": [0.65, 0.25, 0.1]}
    drop = modality_drop_importance(full, without, class_index=0)
    assert drop == pytest.approx({"T1": 0.1, "FLAIR": 0.5, "T2": 0.05})
    agreeing = {"T1": 0.3, "FLAIR": 0.6, "T2": 0.1}
    assert spearman_modality_agreement(agreeing, drop) == pytest.approx(1.0)
    assert spearman_modality_agreement([0.6, 0.3, 0.1], [0.05, 0.1, 0.5]) == pytest.approx(-1.0)
    assert np.isnan(spearman_modality_agreement([0.5, 0.5], [0.1, 0.2]))


def test_bad_inputs_raise_input_errors(toy):
    brain, target, image = toy
    with pytest.raises(InputError):
        pointing_game(np.zeros((4, 4, 4)), target)
    with pytest.raises(InputError):
        energy_inside(target * 1.0, np.zeros(SHAPE), brain)
    with pytest.raises(InputError):
        deletion_auc(lambda im: 0.5, image[0], target * 1.0, brain)
