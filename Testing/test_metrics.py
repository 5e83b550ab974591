"""Classification metrics of the model card (training.metrics) on cases with known answers."""


import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, roc_auc_score


from braintumorai.errors import InputError
from training.metrics import (
    brier_score,
    classification_report,
    expected_calibration_error,
    format_report_markdown,
    markdown_table,
)

CLASSES = ["glioma", "meningioma", "metastasis"]


def hand_made_case():
    """6 cases: true 0,0,0,1,1,2; predicted 0,0,1,1,2,2 (0.8 on the predicted class)."""
    labels = np.array([0, 0, 0, 1, 1, 2])
    predicted = [0, 0, 1, 1, 2, 2]
    probs = np.full((6, 3), 0.1)
    probs[np.arange(6), predicted] = 0.8
    return labels, probs


def test_counts_on_a_hand_made_case():
    labels, probs = hand_made_case()
    report = classification_report(labels, probs, CLASSES, n_bootstrap=0)
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]  # rows true, columns predicted
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert report["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(labels, probs.argmax(1)))
    sens = {c: report["per_class"][c]["sensitivity"] for c in CLASSES}
    spec = {c: report["per_class"][c]["specificity"] for c in CLASSES}
    assert sens == pytest.approx({"glioma": 2 / 3, "meningioma": 1 / 2, "metastasis": 1.0})
    assert spec == pytest.approx({"glioma": 1.0, "meningioma": 3 / 4, "metastasis": 4 / 5})
    assert [report["per_class"][c]["n"] for c in CLASSES] == [3, 2, 1]
    assert report["ci95"]["accuracy"] is None and report["notes"] == []


def test_macro_auc_equals_sklearn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=300)
    logits = rng.normal(size=(300, 3)) + 1.5 * np.eye(3)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    report = classification_report(labels, probs, CLASSES, n_bootstrap=0)
    expected = roc_auc_score(labels, probs, multi_class="ovr", average="macro")
    assert report["auc_macro_ovr"] == pytest.approx(expected, abs=1e-12)
    for c, name in enumerate(CLASSES):
        assert report["per_class"][name]["auc"] == pytest.approx(roc_auc_score(labels == c, probs[:, c]))
    assert report["auc_classes"] == CLASSES
    # The bootstrap's vectorised AUC agrees with sklearn, ties included.
    from training.metrics import _rank_auc

    rounded = np.round(probs, 1)
    for c in range(3):
        fast = _rank_auc(rounded[None, :, c], (labels == c)[None])[0]
        assert fast == pytest.approx(roc_auc_score(labels == c, rounded[:, c]), abs=1e-12)


def test_absent_class_is_reported_not_fatal():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, size=100)  # no 'metastasis' case
    probs = rng.dirichlet(np.ones(3), size=100)
    report = classification_report(labels, probs, CLASSES, n_bootstrap=50)
    absent = report["per_class"]["metastasis"]
    assert absent["n"] == 0 and absent["sensitivity"] is None and absent["auc"] is None
    assert report["auc_classes"] == ["glioma", "meningioma"]
    expected = np.mean([roc_auc_score(labels == c, probs[:, c]) for c in (0, 1)])
    assert report["auc_macro_ovr"] == pytest.approx(expected)
    assert any("metastasis" in note for note in report["notes"])
    assert report["ci95"]["auc_macro_ovr"] is not None


def test_ece_small_when_calibrated_and_large_when_overconfident():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(3), size=20000)
    # Labels drawn from the predicted probabilities: calibrated by construction.
    labels = (rng.random((20000, 1)) > probs.cumsum(axis=1)).sum(axis=1).clip(max=2)
    assert expected_calibration_error(labels, probs) < 0.015
    sharp = probs**4 / (probs**4).sum(axis=1, keepdims=True)  # same ranking, over-confident
    assert expected_calibration_error(labels, sharp) > 0.1


def test_ece_hand_computed():
    # Two bins: confidences 0.9 (2 cases, 1 right) and 0.6 (2 cases, both right).
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    labels = np.array([0, 1, 0, 1])
    expected = 0.5 * abs(0.5 - 0.9) + 0.5 * abs(1.0 - 0.6)
    assert expected_calibration_error(labels, probs) == pytest.approx(expected)


def test_brier_score_definition():
    labels = np.array([0, 1, 2, 1])
    assert brier_score(labels, np.eye(3)[labels]) == 0.0
    assert brier_score(labels, np.eye(3)[(labels + 1) % 3]) == 2.0  # confidently wrong: the worst
    assert brier_score([0, 1], np.full((2, 2), 0.5)) == pytest.approx(0.5)
    report = classification_report(labels, np.eye(3)[labels], CLASSES, n_bootstrap=20)
    assert report["brier"] == 0.0 and report["accuracy"] == 1.0 and report["ece"] == 0.0


def test_bootstrap_intervals_contain_estimate_and_are_seeded():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, size=200)
    probs = rng.dirichlet(np.ones(3), size=200) * 0.7 + 0.3 * np.eye(3)[labels]
    first = classification_report(labels, probs, CLASSES, n_bootstrap=300, seed=7)
    again = classification_report(labels, probs, CLASSES, n_bootstrap=300, seed=7)
    other = classification_report(labels, probs, CLASSES, n_bootstrap=300, seed=8)
    assert first == again
    assert first["ci95"] != other["ci95"]
    for metric in ("accuracy", "balanced_accuracy", "auc_macro_ovr", "ece", "brier"):
        low, high = first["ci95"][metric]
        assert low <= first[metric] <= high, metric
        assert high - low > 0, metric
    # A 95 % interval of an accuracy on 200 cases is about +-2 sqrt(a(1-a)/200) wide.
    a = first["accuracy"]
    width = first["ci95"]["accuracy"][1] - first["ci95"]["accuracy"][0]
    assert width == pytest.approx(2 * 1.96 * np.sqrt(a * (1 - a) / 200), rel=0.25)


def test_report_is_json_ready_and_prints_as_markdown():
    import json

    labels, probs = hand_made_case()
    report = classification_report(labels, probs, CLASSES, n_bootstrap=50)
    json.dumps(report)  # plain types only
    text = format_report_markdown(report, CLASSES)
    assert "| Accuracy | 0.667 |" in text
    assert "| glioma | 3 | 0.667 | 1.000 |" in text
    assert "| **meningioma** | 0 | 1 | 1 |" in text


def test_markdown_table_layout():
    rows = [{"subset": "T1+T2", "acc": 0.91234, "ci": (0.8, 0.95), "n": 600}, {"subset": "a|b", "acc": None}]
    text = markdown_table(rows, ["subset", ("acc", "Accuracy"), ("ci", "95 % CI"), "n"])
    assert text.splitlines() == [
        "| subset | Accuracy | 95 % CI | n |",
        "|---|---|---|---|",
        "| T1+T2 | 0.912 | 0.800–0.950 | 600 |",
        "| a\\|b | n/a | n/a | n/a |",
    ]


def test_bad_inputs_raise_input_errors():
    labels, probs = hand_made_case()
    with pytest.raises(InputError):
        classification_report(labels, probs, CLASSES[:2])
    with pytest.raises(InputError):
        classification_report(labels[:-1], probs, CLASSES)
    with pytest.raises(InputError):
        classification_report(labels, probs * 10, CLASSES)
