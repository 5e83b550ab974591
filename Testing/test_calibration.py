"""Temperature scaling and conformal prediction sets (braintumorai.calibration,
training.calibration_fit) on logits drawn from a known tempered-softmax model."""


import numpy as np
import pytest


from braintumorai.calibration import apply_temperature, conformal_prediction_set, normalised_entropy
from braintumorai.errors import InputError
from training.calibration_fit import (
    conformal_threshold,
    empirical_coverage,
    fit_temperature,
    mean_set_size,
)
from training.metrics import expected_calibration_error

K = 4


def tempered_sample(n, temperature, seed):
    """Logits z and labels drawn from softmax(z / temperature): the true temperature is known."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=4.0, size=(n, K))
    probs = apply_temperature(logits, temperature)
    labels = (rng.random((n, 1)) > probs.cumsum(axis=1)).sum(axis=1)
    return logits, np.minimum(labels, K - 1)


@pytest.mark.parametrize("true_temperature", [0.5, 2.5])
def test_fit_temperature_recovers_the_true_temperature(true_temperature):
    logits, labels = tempered_sample(6000, true_temperature, seed=1)
    fitted = fit_temperature(logits, labels)
    assert abs(fitted - true_temperature) / true_temperature < 0.10


def test_temperature_scaling_lowers_ece_of_overconfident_logits():
    # Raw logits of a T = 2.5 model are over-confident; fit on one half, judge on the other.
    logits, labels = tempered_sample(8000, 2.5, seed=2)
    fit, held = slice(0, 4000), slice(4000, None)
    temperature = fit_temperature(logits[fit], labels[fit])
    before = expected_calibration_error(labels[held], apply_temperature(logits[held]))
    after = expected_calibration_error(labels[held], apply_temperature(logits[held], temperature))
    assert before > 0.08
    assert after < 0.03
    assert after < before / 3


def test_conformal_sets_reach_nominal_coverage_on_exchangeable_data():
    logits, labels = tempered_sample(40000, 1.5, seed=3)
    cal, test = slice(0, 20000), slice(20000, None)
    probs = apply_temperature(logits, fit_temperature(logits[cal], labels[cal]))
    threshold = conformal_threshold(probs[cal], labels[cal], coverage=0.9)
    sets = conformal_prediction_set(probs[test], threshold)
    coverage = empirical_coverage(sets, labels[test])
    # With 20000 + 20000 cases the coverage has sd ~0.003 around >= 0.9: allow 4 sd.
    assert coverage >= 0.9 - 0.012
    # ...and it is not reached trivially by returning every class.
    assert coverage <= 0.9 + 0.012
    assert 1.0 <= mean_set_size(sets) < K - 1


def test_conformal_threshold_is_the_finite_sample_corrected_quantile():
    # Scores 1 - p_true are 0.05, 0.10, ..., in a shuffled order.
    n = 19
    p_true = 1.0 - 0.05 * np.arange(1, n + 1)
    order = np.random.default_rng(0).permutation(n)
    probs = np.column_stack([p_true[order], 1.0 - p_true[order]])
    labels = np.zeros(n, dtype=int)
    # ceil((19 + 1) * 0.9) = 18 -> the 18th smallest score.
    assert conformal_threshold(probs, labels, coverage=0.9) == pytest.approx(0.05 * 18)
    # ceil(20 * 0.5) = 10
    assert conformal_threshold(probs, labels, coverage=0.5) == pytest.approx(0.05 * 10)
    # Too few cases for 99 %: ceil(20 * 0.99) = 20 > 19 -> every class in every set.
    assert conformal_threshold(probs, labels, coverage=0.99) == 1.0


def test_prediction_sets_are_never_empty_and_hold_the_argmax():
    probs = np.random.default_rng(4).dirichlet(np.ones(K), size=500)
    for threshold in (0.0, 0.3):
        sets = conformal_prediction_set(probs, threshold)
        assert sets.shape == probs.shape and sets.dtype == bool
        assert sets.sum(axis=1).min() >= 1
        assert sets[np.arange(500), probs.argmax(axis=1)].all()
    strict = conformal_prediction_set(probs, 0.0)
    assert (strict.sum(axis=1) == 1).all()
    # A single case gives a (K,) mask; a threshold of 1 gives every class.
    assert conformal_prediction_set([0.7, 0.2, 0.1], 0.85).tolist() == [True, True, False]
    assert conformal_prediction_set([0.7, 0.2, 0.1], 1.0).all()


def test_apply_temperature_rows_sum_to_one_without_overflow():
    logits = np.array([[1000.0, -1000.0, 0.0], [1.0, 2.0, 3.0], [-5e4, -5e4, -5e4]])
    for temperature in (0.1, 1.0, 7.0):
        probs = apply_temperature(logits, temperature)
        assert np.all(np.isfinite(probs))
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
        # Temperature never changes the predicted class.
        assert (probs.argmax(axis=1) == logits.argmax(axis=1)).all()
    np.testing.assert_allclose(apply_temperature(logits[2]), [1 / 3] * 3)
    single = apply_temperature([0.0, np.log(3.0)])
    np.testing.assert_allclose(single, [0.25, 0.75])


def test_normalised_entropy_bounds():
    assert normalised_entropy([0.25, 0.25, 0.25, 0.25]) == pytest.approx(1.0)
    assert normalised_entropy([1.0, 0.0, 0.0]) == pytest.approx(0.0)
    values = normalised_entropy(np.array([[0.5, 0.5], [0.9, 0.1]]))
    assert values.shape == (2,) and values[0] == pytest.approx(1.0) and 0 < values[1] < 1


def test_bad_inputs_raise_input_errors():
    with pytest.raises(InputError):
        apply_temperature([1.0, 2.0], 0.0)
    with pytest.raises(InputError):
        apply_temperature([1.0, np.nan], 1.0)
    with pytest.raises(InputError):
        fit_temperature(np.zeros((3, 2)), [0, 1, 2])  # label 2 has no column
    with pytest.raises(InputError):
        conformal_threshold(np.full((3, 2), 0.5), [0, 1, 0], coverage=1.0)
    with pytest.raises(InputError):
        conformal_prediction_set([[2.0, -1.0]], 0.5)  # logits, not probabilities


def test_calibration_for_takes_the_subset_entry_else_the_pooled_values():
    from braintumorai.calibration import calibration_for, subset_key

    card = {"temperature": 1.3, "conformal_threshold": 0.8,
            "per_subset": {"T1C+FLAIR": {"temperature": 0.9, "conformal_threshold": 0.6}}}
    assert subset_key(["T1C", "FLAIR"]) == "T1C+FLAIR"
    assert calibration_for(card, ["T1C", "FLAIR"]) == (0.9, 0.6)
    assert calibration_for(card, ["FLAIR"]) == (1.3, 0.8)
    assert calibration_for({"temperature": 2.0}, ["T1"]) == (2.0, None)
    assert calibration_for({}, ["T1"]) == (1.0, None)


def test_a_class_exactly_at_the_threshold_is_in_the_set():
    """The LAC rule keeps a class whose score 1 - p equals the threshold ("<=", not "<"):
    the split-conformal guarantee is proved for that rule. 0.25 and 0.75 are exact in binary."""
    probabilities = np.array([0.5, 0.25, 0.25])
    assert conformal_prediction_set(probabilities, 0.75).tolist() == [True, True, True]
    assert conformal_prediction_set(probabilities, np.nextafter(0.75, 0)).tolist() == [True, False, False]
    batch = conformal_prediction_set(np.array([[0.5, 0.5, 0.0], [0.125, 0.125, 0.75]]), 0.5)
    assert batch.tolist() == [[True, True, False], [False, False, True]]
