"""The training program end to end on a handful of small phantoms: pretraining,
freeze-then-unfreeze fine-tuning, calibration, checkpoint + card, evaluation tables;
and the dataset route with patient-level splits."""

import json

import numpy as np
import pytest
import torch

from braintumorai.checkpoints import load_checkpoint
from braintumorai.pipeline import Classifier
from braintumorai.synthetic import generate_case
from training import classifier as program
from training.sources import patient_split

TINY = {
    "name": "tiny", "version": "0.0.1", "modalities": ["T1", "T1C", "T2", "FLAIR", "CT", "PET"],
    "classes": ["glioblastoma", "no_tumor"],
    "spacing_mm": [6.0, 6.0, 6.0], "grid_size": [28, 32, 28],
    "data": {"source": "phantoms", "phantom_spacing_mm": 4.0, "train_per_class": 40, "calibration_per_class": 6,
             "test_per_class": 8, "seeds": {"train": 10, "calibration": 500, "test": 900}},
    "model": {"encoder": "compact", "embed_dim": 32, "modality_dropout": 0.0,
              "encoder_kwargs": {"channels": [8, 16, 24, 32]}},
    "pretrain": {"steps": 4, "batch_size": 8, "lr": 0.002},
    "finetune": {"frozen_epochs": 1, "epochs": 12, "batch_size": 4, "lr": 0.005, "encoder_lr": 0.003,
                 "modality_loss_weight": 0.5},
    "augment": False, "seed": 0, "workers": 1, "conformal_coverage": 0.9,
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("training")
    config = folder / "config.json"
    config.write_text(json.dumps(TINY))
    out, cache = folder / "run", folder / "cache"
    # One thread: CPU convolutions then sum in a fixed order, so the run repeats exactly.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert program.main(["fit", "--config", str(config), "--out", str(out), "--cache", str(cache),
                             "--device", "cpu"]) == 0
    finally:
        torch.set_num_threads(threads)
    return folder, config, out / "tiny.pt", cache


def test_fit_writes_a_checkpoint_whose_card_records_the_schedule(trained):
    _, _, checkpoint, _ = trained
    model, card = load_checkpoint(checkpoint)
    assert card["classes"] == ["glioblastoma", "no_tumor"] and card["spacing_mm"] == [6.0, 6.0, 6.0]
    epochs = card["training"]["finetuning"]["epochs"]
    assert [e["encoder_frozen"] for e in epochs] == [True] + [False] * 11
    assert card["training"]["pretraining"]["steps"] == 4
    assert card["calibration"]["temperature"] > 0 and 0 < card["calibration"]["conformal_threshold"] <= 1
    # 12 calibration cases are too few for any subset's own numbers (see the calibrate test): the pooled pair serves
    assert card["calibration"]["per_subset"] == {}
    assert "Not for clinical use" in card["intended_use"]


def test_a_few_steps_on_a_handful_of_phantoms_beat_chance(trained):
    _, _, checkpoint, _ = trained
    classifier = Classifier.load(str(checkpoint), device="cpu")
    correct = 0
    seeds = range(5000, 5060)
    for index, seed in enumerate(seeds):
        label = ("glioblastoma", "no_tumor")[index % 2]
        case = generate_case(label, seed=seed, spacing=4.0)
        correct += classifier.predict(_study(case), saliency=None).predicted == label
    # Chance is 0.5. Issue 19's generator (smaller glioblastoma oedema, satellites) made the
    # tiny 6 mm task harder: with batches of 8 (10 steps an epoch) 39 of 60 right; with batches
    # of 4, 49 of 60 here (41-57 over training seeds 0-3). The floor, 0.65, is about 2.3 binomial
    # standard deviations above chance on 60 phantoms.
    assert correct / len(seeds) >= 0.65, correct


def _study(case):
    from braintumorai.study import Study

    return Study(dict(case.images))


def test_evaluate_writes_the_subset_table(trained, capsys):
    folder, config, checkpoint, cache = trained
    out = folder / "evaluation"
    assert program.main(["evaluate", "--checkpoint", str(checkpoint), "--config", str(config), "--out", str(out),
                         "--cache", str(cache), "--bootstrap", "50", "--saliency-cases", "2"]) == 0
    evaluation = json.loads((out / "evaluation.json").read_text())
    subsets = evaluation["subsets"]
    assert len([k for k in subsets if k not in ("all", "MRI only", "CT only", "PET only")]) == 15
    for report in subsets.values():
        assert 0 <= report["accuracy"] <= 1 and "conformal_coverage" in report
    assert {"pointing_game", "pointing_game_0_voxels", "deletion_auc"} <= set(evaluation["saliency"]["maps"]["gradcam"])
    assert set(evaluation["saliency"]["maps"]) == {"layercam", "gradcam", "gradcam++", "random", "uniform"}
    assert "| modalities |" in (out / "evaluation.md").read_text()


def test_calibrate_fits_every_modality_subset_and_rewrites_the_card(trained, monkeypatch):
    folder, config, checkpoint, cache = trained
    monkeypatch.setattr(program, "MIN_CASES_PER_SUBSET", 10)
    before, _ = load_checkpoint(checkpoint)
    assert program.main(["calibrate", "--checkpoint", str(checkpoint), "--config", str(config), "--cache", str(cache),
                         "--coverage", "0.8"]) == 0
    after, card = load_checkpoint(checkpoint)
    calibration = card["calibration"]
    assert calibration["coverage"] == 0.8 and len(calibration["per_subset"]) == 63
    assert set(calibration["per_subset"]["T1C+FLAIR"]) == {"temperature", "conformal_threshold", "cases"}
    assert all(e["temperature"] > 0 and 0 <= e["conformal_threshold"] <= 1 for e in calibration["per_subset"].values())
    for a, b in zip(before.state_dict().values(), after.state_dict().values()):
        assert torch.equal(a, b)


def test_patient_split_keeps_each_patient_in_one_split():
    patients = [f"P{i // 3}" for i in range(60)]  # 20 patients, 3 visits each
    split = patient_split(patients, {"test": 0.2, "calibration": 0.1}, seed=0)
    assert set(split) == set(patients)
    counts = {name: sum(1 for p in set(patients) if split[p] == name) for name in ("train", "calibration", "test")}
    assert counts == {"train": 14, "calibration": 2, "test": 4}
    assert patient_split(patients, {"test": 0.2, "calibration": 0.1}, seed=0) == split


def test_dataset_route_reads_a_written_cohort(tmp_path):
    from braintumorai.cli import main as cli

    cohort = tmp_path / "cohort"
    assert cli(["cohort", "--out", str(cohort), "--patients", "6", "--visits", "2", "--types", "glioblastoma",
                "meningioma", "--modalities", "T1C", "FLAIR", "--spacing", "5"]) == 0
    config = dict(TINY, name="from-dataset", classes=None,
                  data={"source": "dataset", "root": str(cohort), "split": {"test": 0.34, "calibration": 0.17}},
                  pretrain=None, finetune={"epochs": 1, "batch_size": 2, "lr": 0.002, "encoder_lr": 0.001})
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert program.main(["fit", "--config", str(path), "--out", str(tmp_path / "run"), "--cache",
                         str(tmp_path / "cache"), "--device", "cpu"]) == 0
    _, card = load_checkpoint(tmp_path / "run" / "from-dataset.pt")
    assert card["classes"] == ["glioblastoma", "meningioma"]
    assert card["training_data"]["split"] == "by patient" and card["training_data"]["patients"] == 6
    present = np.load(next((tmp_path / "cache").glob("dataset-train-*")) / "present.npy")
    assert present[:, [1, 3]].all() and not present[:, [0, 2, 4, 5]].any()


def test_a_complete_cache_is_reused_not_rebuilt(trained):
    from training.phantom_cache import CacheSpec, build_cache

    _, _, _, cache = trained
    folder = next(cache.glob("phantoms-train-*"))
    before = (folder / "channels.npy").stat().st_mtime_ns
    spec = CacheSpec(cases_per_class=40, first_seed=10, spacing_mm=(6.0, 6.0, 6.0), grid_size=(28, 32, 28),
                     phantom_spacing_mm=4.0)
    assert build_cache(folder, spec, TINY["classes"], TINY["modalities"], workers=1) == folder
    assert (folder / "channels.npy").stat().st_mtime_ns == before
