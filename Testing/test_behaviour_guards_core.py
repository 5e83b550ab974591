"""Issue 15 §6, second half: behaviours that planted bugs of our own slipped past the other
tests (see the planted-bug table of issue 15). Each test names the bug it kills."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from braintumorai.calibration import apply_temperature
from braintumorai.checkpoints import save_checkpoint
from braintumorai.cli import main
from braintumorai.cli.prognose_command import parse_visit, with_treatments
from braintumorai.models import ModalityAttentionNet
from braintumorai.normalization import normalise
from braintumorai.pipeline import Classifier

from imaging_helpers import head_with_blob


# ---------------------------------------------------------------------------------------------
# Normalisation worked by hand.

def test_mri_zscore_uses_brain_statistics_and_is_zero_outside():
    """Bugs killed: the z-score's mean and spread taken over the whole volume (background
    included) instead of the brain; the channel left non-zero outside the brain."""
    array = np.zeros((4, 10, 10), np.float32)
    brain = np.zeros(array.shape, bool)
    brain[1:3, 2:8, 2:8] = True                       # 72 brain voxels
    values = np.tile(np.array([100.0, 200.0, 300.0], np.float32), 24)
    array[brain] = values
    array[~brain] = 40.0                              # bright background, e.g. an unstripped rim
    out, info = normalise("T2", array, brain)
    low, high = np.percentile(values, (0.5, 99.5))    # the clip leaves 100..300 as they are
    clipped = np.clip(values, low, high)
    expected = (clipped - clipped.mean()) / clipped.std()
    np.testing.assert_allclose(out[brain], expected, atol=1e-5)
    assert np.all(out[~brain] == 0.0)
    assert info.method == "zscore" and info.brain_median == pytest.approx(200.0)
    assert out[brain].mean() == pytest.approx(0.0, abs=1e-6) and out[brain].std() == pytest.approx(1.0, abs=1e-5)


def test_pet_ratio_to_the_brain_median_by_hand():
    """Bug killed: the PET ratio not shifted by 1 (the brain median at 1 instead of 0)."""
    array = np.array([[[0.0, 2.0, 4.0, 8.0, 40.0, 4.0]]], np.float32)
    brain = np.array([[[False, True, True, True, True, True]]])
    out, info = normalise("PET", array, brain, {"units": "SUV"})
    # brain median 4 -> ratios 0.5, 1, 2, 10 (clipped to 6), 1 -> minus 1
    np.testing.assert_allclose(out[0, 0], [0.0, -0.5, 0.0, 1.0, 5.0, 0.0], atol=1e-6)
    assert info.method == "suv_ratio" and info.brain_median == pytest.approx(4.0)
    counts, info = normalise("PET", array * 1000, brain, {})
    np.testing.assert_allclose(counts, out, atol=1e-6)   # the same ratio from raw counts
    assert info.method == "count_ratio"


# ---------------------------------------------------------------------------------------------
# Prognosis inputs.

def test_a_treatment_started_on_a_visits_day_counts_for_that_visit():
    """Bug killed: ``day < visit day`` (a surgery on the day of the post-operative scan not
    counted for it)."""
    visits = with_treatments([parse_visit("0:"), parse_visit("30:"), parse_visit("90:")],
                             ["30:surgery", "90:radiotherapy", "91:chemotherapy"])
    assert [v["treatments"] for v in visits] == [[], ["surgery"], ["surgery", "radiotherapy"]]


def test_batch_predicts_survival_only_for_patients_with_two_dated_visits(tmp_path):
    """Bug killed: a survival job for a patient with one dated visit (a curve from a single
    study is not the follow-up prediction batch promises)."""
    from braintumorai.batch import plan_jobs
    from braintumorai.datasets import load_dataset

    cohort = tmp_path / "cohort"
    assert main(["cohort", "--out", str(cohort), "--patients", "3", "--visits", "2", "--seed", "3",
                 "--modalities", "T1C", "--spacing", "6", "--quiet"]) == 0
    lines = (cohort / "manifest.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    patients = sorted({row.split(",")[1] for row in rows})
    # Patient 2 keeps one visit; patient 3 has two, one of them without a day.
    kept = [r for r in rows if r.split(",")[1] != patients[1] or r.split(",")[2] == "0"]
    kept = [",".join(f if i != 2 or not (f != "0" and r.split(",")[1] == patients[2]) else ""
                     for i, f in enumerate(r.split(","))) for r in kept]
    (cohort / "manifest.csv").write_text("\n".join([header, *kept]) + "\n")
    dataset = load_dataset(cohort)
    assert len(dataset.records) == 5
    todo, done = plan_jobs(dataset, tmp_path / "out", None, None, None, "cpu")
    assert done == []
    assert [job["patient"] for job in todo if job["kind"] == "prognose"] == [patients[0]]
    assert sum(job["kind"] == "classify" for job in todo) == 5


# ---------------------------------------------------------------------------------------------
# Class order: the network's output order, whatever the names.

def test_results_keep_the_networks_class_order(tmp_path):
    """Bug killed: classes listed in another order than the network's outputs (sorted names,
    say), so every probability is shown under another class's name."""
    torch.manual_seed(0)
    classes = ("meningioma", "glioblastoma", "lymphoma")  # deliberately not alphabetical
    model = ModalityAttentionNet(classes, ("T1C",), embed_dim=8)
    with torch.no_grad():
        model.classifier.weight.mul_(40.0)
    path = tmp_path / "order.pt"
    save_checkpoint(model, path, {"name": "order", "version": "0", "spacing_mm": [6.0, 6.0, 6.0],
                                  "grid_size": [32, 36, 32], "calibration": {"temperature": 1.5}})
    classifier = Classifier.load(str(path), device="cpu")
    t1c = head_with_blob((60, 70, 50), (3.0, 3.0, 3.0), np.eye(3), blob_centre=(15.0, -5.0, 0.0), blob_radius=10.0,
                         texture=True)
    result = classifier.predict({"T1C": t1c}, saliency=None)
    prepared = classifier.prepare({"T1C": t1c})[1]
    with torch.no_grad():
        logits = classifier.model(torch.from_numpy(prepared.channels[None]),
                                  torch.from_numpy(prepared.present[None])).logits[0].numpy()
    expected = apply_temperature(logits, 1.5)
    assert result.classes == list(classes)
    assert result.probabilities == pytest.approx(list(expected), abs=1e-5)
    assert result.predicted == classes[int(np.argmax(expected))]
    assert result.probability_of == pytest.approx(dict(zip(classes, expected)), abs=1e-5)
    embedded = classifier.embed({"T1C": t1c})
    assert embedded.probabilities == pytest.approx(dict(zip(classes, expected)), abs=1e-5)


# ---------------------------------------------------------------------------------------------
# The report: every file reaches its name whole.

def test_every_report_file_reaches_its_name_by_one_rename_of_a_complete_file(tmp_path, monkeypatch):
    """Bug killed: a report file written in place (a reader, or a crash, sees half a PNG or
    half a page); each must be a complete temporary file renamed onto its name."""
    from braintumorai.report import write_report

    classification = {"classes": ["HGG", "LGG"], "probabilities": {"HGG": 0.7, "LGG": 0.3}, "predicted": "HGG",
                      "uncertainty": 0.88, "prediction_set": ["HGG"], "coverage": 0.9,
                      "modality_weights": {"T1C": 1.0}, "warnings": [], "model": {"name": "m", "sha256": "0"}}
    renamed: dict[str, bytes] = {}
    real_replace = os.replace

    def replace(source, target):
        if Path(target).parent == tmp_path / "report":
            renamed[Path(target).name] = Path(source).read_bytes()
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    files = write_report(tmp_path / "report", classification=classification)
    written = {p.name for p in (tmp_path / "report").iterdir()}
    assert {Path(p).name for p in files.values()} <= written and "report.html" in written
    assert set(renamed) == written
    for name, content in renamed.items():
        assert (tmp_path / "report" / name).read_bytes() == content


# ---------------------------------------------------------------------------------------------
# Co-registration: a volume whose content overlaps the reference by less than half is refused.

def _moved(image: sitk.Image, shift_mm: float) -> sitk.Image:
    moved = sitk.Image(image)
    moved.SetOrigin((np.asarray(image.GetOrigin()) + [shift_mm, 0.0, 0.0]).tolist())
    return moved


def test_a_volume_overlapping_the_reference_by_a_third_is_refused_not_resampled():
    """Bug killed: the "not co-registered" threshold lowered (or skipped), so a FLAIR of
    which only a third lies over the T1C is resampled and classified as if it were aligned."""
    from braintumorai.errors import GeometryError
    from braintumorai.geometry import check_coregistration
    from braintumorai.study import Study, align

    t1c = head_with_blob((90, 100, 80), (2.0, 2.0, 2.0), texture=True)  # head 140 mm wide in x
    near, far = _moved(t1c, 40.0), _moved(t1c, 100.0)                   # content overlap 5/7 and 2/7
    assert check_coregistration(near, t1c).status == "resampled"
    assert check_coregistration(near, t1c).overlap == pytest.approx(100 / 140, abs=0.03)
    check = check_coregistration(far, t1c)
    assert check.status == "no" and check.overlap == pytest.approx(40 / 140, abs=0.03)
    assert align(Study({"T1C": t1c, "FLAIR": near})).status["FLAIR"] == "resampled"
    with pytest.raises(GeometryError, match=r"FLAIR .* is not co-registered .*only 2\d% of its content overlaps"):
        align(Study({"T1C": t1c, "FLAIR": far}))


def test_the_model_grid_is_centred_on_the_brain_box_in_physical_space():
    """Bugs killed: an axis-order slip (z, y, x read as x, y, z) in the brain's bounding box, so
    the model grid is centred beside the brain and crops it; the grid built at the reference's
    spacing instead of the model's."""
    from braintumorai.model_grid import ModelGrid

    reference = sitk.Image([60, 40, 30], sitk.sitkFloat32)
    reference.SetSpacing((1.0, 2.0, 3.0))
    reference.SetOrigin((-30.0, 10.0, 5.0))
    reference.SetDirection((0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))  # axes rotated 90 degrees
    mask = sitk.Image(reference.GetSize(), sitk.sitkUInt8)
    mask.CopyInformation(reference)
    array = np.zeros((30, 40, 60), np.uint8)
    array[2:9, 10:31, 5:21] = 1                       # z 2..8, y 10..30, x 5..20
    mask = sitk.GetImageFromArray(array)
    mask.CopyInformation(reference)
    grid = ModelGrid((4.0, 4.0, 4.0), (10, 12, 8)).place(reference, mask)
    assert grid.GetSpacing() == (4.0, 4.0, 4.0) and grid.GetSize() == (10, 12, 8)  # the model's, not the reference's
    centre = np.asarray(grid.GetOrigin()) + (np.asarray(grid.GetSize()) - 1) / 2 * np.asarray(grid.GetSpacing())
    expected = reference.TransformContinuousIndexToPhysicalPoint((12.5, 20.0, 5.0))
    np.testing.assert_allclose(centre, expected, atol=1e-6)
    assert grid.GetDirection() == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Calibration on one case (the shape Classify uses).

def test_one_cases_prediction_set_is_never_empty():
    """Bug killed: the top class forced into the set only for a batch (N, K), not for the one
    case (K,) that Classify passes: a strict threshold then gives an empty prediction set."""
    from braintumorai.calibration import conformal_prediction_set

    assert conformal_prediction_set([0.5, 0.3, 0.2], 0.1).tolist() == [True, False, False]
    assert conformal_prediction_set([0.2, 0.45, 0.35], 0.0).tolist() == [False, True, False]
    assert conformal_prediction_set([0.2, 0.45, 0.35], 0.7).tolist() == [False, True, True]


def _ood_card_model(tmp_path, threshold: float) -> Classifier:
    """A tiny T1C classifier whose card holds a unit Gaussian OOD model and ``threshold``."""
    torch.manual_seed(0)
    model = ModalityAttentionNet(("HGG", "LGG", "none"), ("T1C",), embed_dim=8)
    width = model.classifier.in_features
    entry = {"mean": [0.0] * width, "components": np.eye(4, width).tolist(), "class_means": [[0.0] * 4],
             "precision": np.eye(4).tolist(), "residual_variance": 1.0, "scale": 1.0}
    path = tmp_path / f"ood-{threshold:g}.pt"
    save_checkpoint(model, path, {"name": "ood", "version": "0", "spacing_mm": [6.0, 6.0, 6.0],
                                  "grid_size": [32, 36, 32],
                                  "calibration": {"temperature": 1.0, "conformal_threshold": 0.01, "coverage": 0.9},
                                  "ood": {"per_modality": {"T1C": entry}, "threshold": threshold}})
    return Classifier.load(str(path), device="cpu")


def test_the_ood_flag_is_raised_above_the_threshold_only(tmp_path):
    """Bug killed: the flag's comparison flipped, so typical studies are flagged and the
    unusual ones pass without a word."""
    t1c = head_with_blob((60, 70, 50), (3.0, 3.0, 3.0), np.eye(3), blob_centre=(15.0, -5.0, 0.0), blob_radius=10.0,
                         texture=True)
    low = _ood_card_model(tmp_path, 1e-9).predict({"T1C": t1c}, saliency=None)
    high = _ood_card_model(tmp_path, 1e12).predict({"T1C": t1c}, saliency=None)
    assert low.ood_score == pytest.approx(high.ood_score) and 1e-9 < low.ood_score < 1e12
    assert low.ood_flag is True and high.ood_flag is False
    assert any("out-of-distribution score" in w for w in low.warnings)
    assert not any("out-of-distribution" in w for w in high.warnings)
    # Flagged: the set widened to the classes holding 90 % of the probability.
    order = np.argsort(low.probabilities)[::-1]
    needed = int(np.searchsorted(np.cumsum(np.asarray(low.probabilities)[order]), 0.9 - 1e-12)) + 1
    assert sorted(low.prediction_set) == sorted(low.classes[i] for i in order[:needed])
    assert high.prediction_set == [high.predicted]  # the strict conformal threshold alone


# ---------------------------------------------------------------------------------------------
# --out: a folder of the user's own files is refused, never replaced.

def test_an_output_folder_holding_the_users_files_is_refused_and_left_as_it_was(tmp_path):
    """Bug killed: the "holds files that are not a BrainTumorAI result" check skipped, so the
    whole-folder swap deletes the user's files."""
    from braintumorai.errors import InputError
    from braintumorai.output_folder import output_folder

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    (mine / "scan.nii.gz").write_bytes(b"\x1f\x8b not really")
    with pytest.raises(InputError, match="mine"):
        with output_folder(mine, option="--out") as folder:
            (folder.staging / "result.json").write_text("{}")
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt", "scan.nii.gz"]
    assert (mine / "notes.txt").read_text() == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no staging or lock left behind


# ---------------------------------------------------------------------------------------------
# Integrity of the files we write: an uncompressed NIfTI cut short is caught too.

def test_an_uncompressed_nifti_cut_short_is_refused_on_the_header_check(tmp_path):
    """Bug killed: the stored-length check applied to .nii.gz only, so a .nii map cut short by
    a full disk passes the check made before the rename."""
    from braintumorai.errors import InputError
    from braintumorai.file_integrity import check_volume_file
    from braintumorai.io import verify_written_image

    image = sitk.GetImageFromArray(np.random.default_rng(0).random((20, 24, 28)).astype(np.float32))
    whole = tmp_path / "map.nii"
    sitk.WriteImage(image, str(whole), False)
    assert tuple(check_volume_file(whole, full=False).shape[:3]) == (28, 24, 20)
    data = whole.read_bytes()
    cut = tmp_path / "cut.nii"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError, match="cut.nii' was not written completely"):
        check_volume_file(cut, full=False)
    with pytest.raises(InputError, match="completely"):
        verify_written_image(cut, image, "map.nii")
    verify_written_image(whole, image, "map.nii")  # the whole file passes
