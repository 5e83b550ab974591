"""Training and judging the prognosis model: a few steps on a small phantom cohort beat random
ranking and learn from the trajectory, the band fitted on held-out phantoms holds their true
survival, and the evaluation's metrics agree with lifelines on the same predictions."""

import numpy as np
import pytest
import torch
from lifelines.utils import concordance_index

from braintumorai.survival.time_grid import DAYS_PER_MONTH, TimeGrid
from braintumorai.survival.visit_features import FeatureSpec, visit_matrix

from training import survival_metrics as sm
from training.prognosis_band import fit_band
from training.prognosis_cache import phantom_cohort_without_images
from training.prognosis_data import Augmentation, CohortSequences, augment
from training.prognosis_evaluation import evaluate_landmark
from training.prognosis_fit import FitSettings, fit_ensemble, sequence_loss

GRID = TimeGrid.uniform(60 * DAYS_PER_MONTH, 30)
SPEC = FeatureSpec(compartments=True)


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    train = phantom_cohort_without_images(500, seed=101)
    settings = FitSettings(hidden=32, members=2, max_epochs=25, patience=5,
                           augmentation=Augmentation(no_images=0, no_compartments=0, visit_without_image=0))
    model = fit_ensemble(CohortSequences.build(train, SPEC, GRID), SPEC, GRID.n_intervals, settings, log=lambda m: None)
    return train, model


def test_sequences_are_what_inference_builds():
    cohort = phantom_cohort_without_images(20, seed=3)
    seqs = CohortSequences.build(cohort, SPEC, GRID)
    for n in (0, 7, 19):
        k = seqs.lengths[n]
        expected = visit_matrix(SPEC, cohort.visit_data(n, 0), cohort.clinical(n))
        np.testing.assert_array_equal(seqs.x[0, n, :k], expected)
        assert np.all(seqs.x[0, n, k:] == 0)
    # Up to day 100: visits after it are gone, the first visit always stays.
    early = seqs.up_to_day(100.0)
    assert np.all(early.lengths == np.sum(np.nan_to_num(seqs.days, nan=1e9) <= 100, axis=1).clip(1))


def test_augmentation_hides_parts_as_missing_values_are_encoded():
    cohort = phantom_cohort_without_images(30, seed=4)
    seqs = CohortSequences.build(cohort, SPEC, GRID)
    rng = np.random.default_rng(0)
    everything = Augmentation(no_images=1, no_compartments=1, visit_without_image=1, covariate_missing=1)
    view = augment(seqs.x, SPEC, rng, everything)
    names = SPEC.names
    real = np.arange(view.shape[1])[None, :] < seqs.lengths[:, None]
    assert np.all(view[..., SPEC.columns("compartments")] == 0)
    for missing_flag in ("age_missing", "sex_missing", "kps_missing"):
        assert np.all(view[..., names.index(missing_flag)][real] == 1)
    assert np.all(view[~real] == 0)  # padding stays padding


def test_loss_counts_every_real_visit_alike_and_no_padding():
    logits = torch.zeros(2, 3, GRID.n_intervals)
    survived = torch.zeros(2, 3, GRID.n_intervals)
    failed = torch.zeros(2, 3, GRID.n_intervals)
    survived[0, :, :2] = 1  # patient 0: three visits, each seen through two intervals
    failed[1, 0, 0] = 1  # patient 1: one visit, dead in the first interval
    survived[1, 1:] = 1  # padding of patient 1 must not count
    expected = (3 * 2 * np.log(2) + np.log(2)) / 4  # four real visits, log(2) per interval term at h = 0.5
    assert float(sequence_loss(logits, survived, failed, torch.tensor([3, 1]))) == pytest.approx(expected)


def test_a_few_epochs_beat_random_and_use_the_trajectory(trained):
    train, model = trained
    test = phantom_cohort_without_images(300, seed=202)
    seqs = CohortSequences.build(test, SPEC, GRID)
    rows = evaluate_landmark(model, {"band": {}}, SPEC, GRID, train, test, seqs, 182.6, bootstrap=0)
    gru, first, km = (next(r for r in rows if r["model"].startswith(name)) for name in
                      ("GRU: visits up to the landmark (images + segmentation)", "GRU: first visit", "Kaplan-Meier"))
    assert gru["c_harrell"] > 0.65
    assert gru["c_harrell"] > first["c_harrell"] + 0.03
    assert gru["ibs_0_36m"] < km["ibs_0_36m"]


def test_harrell_c_agrees_with_lifelines_and_skips_nothing():
    rng = np.random.default_rng(1)
    time = rng.exponential(500, 200).round()
    event = rng.random(200) < 0.6
    risk = -time * rng.uniform(0.5, 1.5, 200)
    assert sm.harrell_c(time, event, risk) == pytest.approx(concordance_index(time, -risk, event), abs=1e-9)


def test_band_fitted_on_held_out_phantoms_holds_their_true_survival(trained):
    _, model = trained
    calibration = phantom_cohort_without_images(150, seed=303)
    seqs = CohortSequences.build(calibration, SPEC, GRID)
    band = fit_band(model, SPEC, GRID, calibration, seqs, level=0.9)
    assert set(band["offsets"]) == {"segmentation", "covariates"}
    assert all(low <= 0 <= high for groups in band["offsets"].values() for low, high in groups.values())
    # On fresh patients the band at 12 months holds the true survival about as often as nominal.
    test = phantom_cohort_without_images(300, seed=404)
    rows = evaluate_landmark(model, {"band": band}, SPEC, GRID, calibration, test, CohortSequences.build(test, SPEC, GRID),
                             0.0, bootstrap=0, baselines=False)
    coverage = rows[0]["band_coverage_12m"]
    assert 0.78 <= coverage <= 0.99
    unfitted = evaluate_landmark(model, {"band": {}}, SPEC, GRID, calibration, test,
                                 CohortSequences.build(test, SPEC, GRID), 0.0, bootstrap=0, baselines=False)
    assert unfitted[0]["band_coverage_12m"] < coverage  # the ensemble's spread alone is too narrow


def test_fit_and_evaluate_on_a_cohort_read_by_the_dataset_loader(tmp_path):
    """training.prognosis on a cohort folder (as `braintumorai cohort` writes it, the same layout
    route as BraTS or LUMIERE): embeddings cached once, patient-level split, a checkpoint with
    its card, and an evaluation table without the phantom-only rows (no true risk on disk)."""
    import json

    from braintumorai.cli import main as cli
    from braintumorai.prognosis import Prognosticator
    from model_helpers import tiny_models
    from training.prognosis import main

    classifier, _ = tiny_models(tmp_path)
    cohort = tmp_path / "cohort"
    assert cli(["cohort", "--out", str(cohort), "--patients", "24", "--seed", "9", "--modalities", "T1C", "FLAIR",
                "--spacing", "4"]) == 0
    config = {"name": "dataset-prognosis", "classifier": str(classifier),
              "time_grid": {"horizon_months": 60, "intervals": 30},
              "data": {"source": "dataset", "root": str(cohort), "split": {"test": 0.25, "calibration": 0.25}},
              "fit": {"hidden": 8, "members": 2, "max_epochs": 5, "patience": 2},
              "evaluation": {"landmarks_days": [0], "bootstrap": 0}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    arguments = ["--config", str(tmp_path / "config.json"), "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "run")]
    assert main(["fit", *arguments]) == 0
    assert len(list((tmp_path / "cache").iterdir())) == 2  # train and calibration embedded once
    assert main(["evaluate", *arguments, "--checkpoint", str(tmp_path / "run" / "dataset-prognosis.pt"),
                 "--update-card"]) == 0
    evaluation = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    names = [row["model"] for row in evaluation["rows"]]
    assert names[0].startswith("GRU") and not any(n.startswith("Oracle") for n in names)
    card = json.loads((tmp_path / "run" / "dataset-prognosis.json").read_text())
    assert card["metrics"]["rows"] == evaluation["rows"] and card["band"]["offsets"] == {}  # no true curves: unfitted
    # The checkpoint serves predictions.
    Prognosticator.load(str(tmp_path / "run" / "dataset-prognosis.pt"), device="cpu")


def test_tabular_mode_on_a_public_survival_table_matches_cox(tmp_path, capsys):
    """GBSG2 (lifelines ships it): the discrete-time model on covariates alone ranks the held-out
    patients as well as a CoxPHFitter on the same covariates and split (within 0.02)."""
    import json

    from lifelines.datasets import load_gbsg2

    from training.prognosis import main

    load_gbsg2().to_csv(tmp_path / "gbsg2.csv", index=False)
    assert main(["fit", "--csv", str(tmp_path / "gbsg2.csv"), "--time-col", "time", "--event-col", "cens",
                 "--covariates", "horTh,age,menostat,tsize,tgrade,pnodes,progrec,estrec", "--out",
                 str(tmp_path / "run")]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--csv", str(tmp_path / "gbsg2.csv"), "--checkpoint",
                 str(tmp_path / "run" / "tabular-prognosis.pt"), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert {"n", "c_index_harrell", "c_index_uno", "integrated_brier"} <= set(figures)
    assert figures["n"] == 172 and figures["held_out_split"]
    assert figures["c_index_harrell"] >= figures["cox"]["c_index_harrell"] - 0.02
    assert figures["integrated_brier"] <= figures["cox"]["integrated_brier"] + 0.01
    # A CSV missing a named column is one clear sentence.
    assert main(["fit", "--csv", str(tmp_path / "gbsg2.csv"), "--time-col", "days", "--event-col", "cens",
                 "--covariates", "age", "--out", str(tmp_path / "bad")]) == 2
    assert "Column 'days' is not in" in capsys.readouterr().err
