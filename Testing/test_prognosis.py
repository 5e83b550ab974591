"""Predict survival: the result contract and the stated rules for awkward visit lists, on a
small untrained prognosis model over a small untrained classifier (the bundled model is
checked in test_bundled_prognosis.py)."""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from braintumorai.checkpoints import save_checkpoint
from braintumorai.cli import main
from braintumorai.errors import InputError, ModelError
from braintumorai.models import ModalityAttentionNet
from braintumorai.prognosis import PrognosisVisit, Prognosticator

from imaging_helpers import head_with_blob
from model_helpers import tiny_models



@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    tiny_models(folder)
    return folder


@pytest.fixture(scope="module")
def prognosticator(models):
    return Prognosticator.load(str(models / "tiny-prognosis.pt"), device="cpu")


def _study(radius=10.0):
    t1c = head_with_blob((60, 70, 50), (3.0, 3.0, 3.0), np.eye(3), blob_centre=(15.0, -5.0, 0.0), blob_radius=radius,
                         texture=True)
    return {"T1C": t1c, "FLAIR": head_with_blob((60, 70, 50), (3.0, 3.0, 3.0), np.eye(3),
                                                blob_centre=(15.0, -5.0, 0.0), blob_radius=radius + 6, texture=True)}


def _segmentation(radius=10.0):
    image = _study(radius)["T1C"]
    seg = sitk.Cast(image > float(np.percentile(sitk.GetArrayViewFromImage(image), 99.5)), sitk.sitkUInt8) * 3
    return seg


def _visits(days=(0, 60, 150)):
    return [PrognosisVisit(day=d, study=_study(10 + i), segmentation=_segmentation(10 + i),
                           treatments=("surgery",) if d > 0 else ()) for i, d in enumerate(days)]


def test_result_contract(prognosticator):
    result = prognosticator.predict(_visits(), {"age": 61, "sex": "M", "kps": 80})
    times = np.array(result.times_days)
    assert times[0] == 0 and np.all(np.diff(times) > 0)
    for curve in [result] + [type("C", (), c) for c in result.per_visit]:
        s, lower, upper = (np.array(getattr(curve, k)) for k in ("survival", "lower", "upper"))
        assert len(s) == len(lower) == len(upper) == len(times)
        assert np.all((s >= 0) & (s <= 1)) and np.all(np.diff(s) <= 1e-9)
        assert np.all(lower <= s + 1e-9) and np.all(s <= upper + 1e-9)
    assert [c["day"] for c in result.per_visit] == [0, 60, 150]
    assert result.conditioned_on_day == 150 and result.per_visit[-1]["survival"] == result.survival
    # Given alive at day 150, S is 1 up to that day.
    assert all(v == 1.0 for t, v in zip(times, result.survival) if t <= 150)
    assert result.median_days is None or result.median_days > 150
    assert 0 <= result.survival_2y <= result.survival_1y <= 1 and result.risk >= 0
    assert [v["modalities"] for v in result.visits] == [["T1C", "FLAIR"]] * 3
    assert result.image_model["sha256"] and result.model["name"] == "tiny-prognosis"
    assert result.warnings == []


def test_visits_out_of_order_are_sorted_with_a_note(prognosticator):
    visits = _visits()
    in_order = prognosticator.predict(visits)
    shuffled = prognosticator.predict([visits[2], visits[0], visits[1]])
    assert shuffled.survival == in_order.survival and [c["day"] for c in shuffled.per_visit] == [0, 60, 150]
    assert any("sorted by day" in w for w in shuffled.warnings)


def test_days_count_from_the_first_visit(prognosticator):
    visits = _visits((0, 60))
    shifted = [PrognosisVisit(v.day - 10, v.study, v.segmentation, v.treatments) for v in visits]
    result = prognosticator.predict(shifted)
    assert [c["day"] for c in result.per_visit] == [0, 60]
    assert result.survival == prognosticator.predict(visits).survival
    assert any("day -10 became day 0" in w for w in result.warnings)


def test_two_visits_on_one_day_and_a_single_visit(prognosticator):
    same_day = prognosticator.predict(_visits((0, 30, 30)))
    assert [c["day"] for c in same_day.per_visit] == [0, 30, 30]
    assert any("share a day" in w for w in same_day.warnings)
    single = prognosticator.predict(_visits((0,)))
    assert len(single.per_visit) == 1 and single.conditioned_on_day == 0


def test_missing_covariates_and_visits_without_usable_images(prognosticator):
    visits = _visits((0, 90))
    no_images = PrognosisVisit(day=200, treatments=("radiotherapy",))
    no_usable = PrognosisVisit(day=300, study={"CT": _study()["T1C"]})  # the classifier reads T1C and FLAIR only
    result = prognosticator.predict(visits + [no_images, no_usable], {"age": None, "sex": None})
    assert len(result.per_visit) == 4 and result.visits[2]["modalities"] == []
    assert any("visit on day 200 has no images" in w for w in result.warnings)
    assert any("visit on day 300 has no volume the classifier reads" in w for w in result.warnings)
    assert np.all(np.isfinite(result.survival))


@pytest.mark.parametrize("visits, clinical, message", [
    ([], None, "non-empty list"),
    ([PrognosisVisit(day=0, treatments=("immunotherapy",))], None, "Unknown treatment 'immunotherapy'"),
    ([PrognosisVisit(day=float("nan"))], None, "finite number"),
    ([{"day": 0, "when": 3}], None, "must have a 'day'"),
    ([PrognosisVisit(day=0)], {"age": 300}, "Age 300"),
    ([PrognosisVisit(day=0)], {"sex": "X"}, "not M or F"),
    ([PrognosisVisit(day=0)], {"weight": 80}, "Unknown clinical covariate"),
])
def test_bad_visits_end_in_one_sentence(prognosticator, visits, clinical, message):
    with pytest.raises(InputError, match=message):
        prognosticator.predict(visits, clinical)


def test_a_segmentation_that_is_no_label_map_is_refused(prognosticator):
    visit = PrognosisVisit(day=0, study=_study(), segmentation=_study()["T1C"])
    with pytest.raises(InputError, match="non-integer values|labels outside"):
        prognosticator.predict([visit])


def test_another_classifier_than_the_one_trained_with_is_refused(models, tmp_path):
    other = ModalityAttentionNet(("HGG", "LGG"), ("T1C", "FLAIR"), embed_dim=8)
    save_checkpoint(other, tmp_path / "other", {"spacing_mm": [6.0, 6.0, 6.0], "grid_size": [32, 36, 32]})
    with pytest.raises(ModelError, match="retrain the prognosis model"):
        Prognosticator.load(str(models / "tiny-prognosis.pt"), device="cpu", classifier=str(tmp_path / "other.pt"))
    with pytest.raises(ModelError, match="not a prognosis model"):
        Prognosticator.load(str(models / "tiny-classifier.pt"), device="cpu")


def _write_visit(folder, radius, with_seg=True):
    folder.mkdir(parents=True)
    study = _study(radius)
    sitk.WriteImage(study["T1C"], str(folder / f"{folder.name}-t1c.nii.gz"))
    sitk.WriteImage(study["FLAIR"], str(folder / f"{folder.name}-t2f.nii.gz"))
    if with_seg:
        sitk.WriteImage(_segmentation(radius), str(folder / f"{folder.name}-seg.nii.gz"))
    return folder


def test_prognose_command_writes_every_field(models, tmp_path, capsys):
    first = _write_visit(tmp_path / "P-000", 10)
    second = _write_visit(tmp_path / "P-001", 13, with_seg=False)
    out = tmp_path / "out"
    code = main(["prognose", "--visit", f"0:{first}", "--visit",
                 f"95:T1C={second / 'P-001-t1c.nii.gz'},{second / 'P-001-t2f.nii.gz'}",
                 "--visit", "200:", "--treatment", "10:surgery", "--treatment", "40:radiotherapy",
                 "--age", "58", "--sex", "F", "--model", str(models / "tiny-prognosis.pt"), "--device", "cpu",
                 "--out", str(out), "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((out / "survival.json").read_text())
    assert printed == saved
    for key in ("times_days", "survival", "lower", "upper", "median_days", "survival_1y", "survival_2y", "risk",
                "per_visit", "model", "warnings", "visits"):
        assert key in saved
    assert set(saved["model"]) == {"name", "version", "sha256"}
    assert len(saved["times_days"]) == len(saved["survival"]) == len(saved["lower"]) == len(saved["upper"])
    assert [c["day"] for c in saved["per_visit"]] == [0, 95, 200]
    assert [v["treatments"] for v in saved["visits"]] == [[], ["surgery", "radiotherapy"], ["surgery", "radiotherapy"]]
    assert [v["segmentation"] for v in saved["visits"]] == [True, False, False]
    png = (out / "survival.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_a_comma_written_twice_is_a_comma_inside_one_path(models, tmp_path, capsys):
    """``--visit 0:scan,,1-t1c.nii.gz,...`` reads the file ``scan,1-t1c.nii.gz`` (a comma is
    the separator of the files, so one inside a path is written twice)."""
    folder = _write_visit(tmp_path / "P,000", 10, with_seg=False)
    files = [folder / "P,000-t1c.nii.gz", folder / "P,000-t2f.nii.gz"]
    doubled = ",".join(str(path).replace(",", ",,") for path in files)
    code = main(["prognose", "--visit", f"0:{doubled}", "--visit", "90:", "--model", str(models / "tiny-prognosis.pt"),
                 "--device", "cpu", "--out", str(tmp_path / "out"), "--json"])
    assert code == 0, capsys.readouterr().err
    visit = json.loads((tmp_path / "out" / "survival.json").read_text())["visits"][0]
    assert sorted(visit["modalities"]) == ["FLAIR", "T1C"]


@pytest.mark.parametrize("arguments, message", [
    (["--visit", "zero:a.nii.gz"], "must start with a day number"),
    (["--visit", "0"], "not of the form DAY:FILES"),
    (["--visit", "0:{tmp}/scan.nii.gz"], "Cannot tell the modality"),
    (["--visit", "0:{tmp}/missing.nii.gz"], "does not exist"),
    (["--visit", "0:", "--treatment", "5:immunotherapy"], "Unknown treatment 'immunotherapy'"),
    (["--visit", "0:", "--treatment", "surgery"], "not of the form DAY:KIND"),
])
def test_prognose_command_bad_arguments(models, tmp_path, capsys, arguments, message):
    (tmp_path / "scan.nii.gz").write_bytes(b"")  # exists, but its name names no modality
    arguments = [argument.format(tmp=tmp_path) for argument in arguments]
    code = main(["prognose", *arguments, "--model", str(models / "tiny-prognosis.pt"), "--device", "cpu",
                 "--out", str(tmp_path / "out")])
    assert code == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and error.count("\n") == 1


def test_the_classifiers_doubts_about_a_visit_reach_the_prediction(prognosticator):
    """A plausibility warning of a visit's images (here MRI with negative intensities) is
    named in the prediction's warnings with the visit it belongs to."""
    study = _study()
    flair = sitk.GetArrayFromImage(study["FLAIR"])
    inside = flair > 0
    flair[inside] -= np.percentile(flair[inside], 5)  # a few per cent of the brain below zero
    shifted = sitk.GetImageFromArray(flair)
    shifted.CopyInformation(study["FLAIR"])
    visits = [PrognosisVisit(day=0, study=study), PrognosisVisit(day=60, study={"T1C": study["T1C"], "FLAIR": shifted})]
    result = prognosticator.predict(visits)
    doubts = [w for w in result.warnings if w.startswith("Visit on day 60:")]
    assert len(doubts) == 1 and "negative" in doubts[0]
    assert not any(w.startswith("Visit on day 0:") for w in result.warnings)
