"""Issue 15 §6, the survival and batch side: each test pins one behaviour a user relies on and
fails when the bug named in its docstring is planted (each was checked by planting it).

Small untrained models (``model_helpers.tiny_models``): the numbers are meaningless, the
contracts real."""

from __future__ import annotations

import csv
import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import SimpleITK as sitk

from braintumorai.batch import run_batch
from braintumorai.cli import main
from braintumorai.cli.demo_command import summary as demo_summary
from braintumorai.cli.prognose_command import summary as prognose_summary
from braintumorai.prognosis import PrognosisVisit, Prognosticator
from braintumorai.report.html import survival_section

from imaging_helpers import head_with_blob
from model_helpers import tiny_models


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("guard-models")
    classifier, prognosis = tiny_models(folder)
    return str(classifier), str(prognosis)


@pytest.fixture(scope="module")
def prognosticator(models):
    return Prognosticator.load(models[1], device="cpu")


@pytest.fixture(scope="module")
def grouped_prognosticator(models, tmp_path_factory):
    """The tiny prognosis model with a band that widens with the number of visits seen (the
    tiny card's offsets are the same for every visit count, so a band read from the wrong
    count would not show)."""
    from braintumorai.checkpoints import load_checkpoint, save_checkpoint

    network, card = load_checkpoint(models[1])
    offsets = {kind: {g: [-0.1 - 0.4 * j, 0.1 + 0.4 * j] for j, g in enumerate(("1", "2", "3", "4+"))}
               for kind in ("images+segmentation", "images", "segmentation", "covariates")}
    path = tmp_path_factory.mktemp("grouped") / "grouped-prognosis.pt"
    save_checkpoint(network, path, {"name": "grouped-prognosis", "time_grid_days": card["time_grid_days"],
                                    "features": card["features"], "band": {"z": 1.645, "offsets": offsets},
                                    "image_model": card["image_model"]})
    return Prognosticator.load(str(path), device="cpu", classifier=models[0])


def _study(radius: float) -> dict:
    def volume(r):
        return head_with_blob((60, 70, 50), (3.0, 3.0, 3.0), np.eye(3), blob_centre=(15.0, -5.0, 0.0),
                              blob_radius=r, texture=True)

    return {"T1C": volume(radius), "FLAIR": volume(radius + 6)}


# ---------------------------------------------------------------------------------------------
# Months in every text a user reads: 400 days are 13.1 months (400 / (365.25 / 12)).

def _survival_data(median_days, per_visit_medians):
    return {"conditioned_on_day": 120.0, "visits": [{"day": 0.0, "name": "visit on day 0", "modalities": ["T1C"],
                                                      "treatments": []},
                                                     {"day": 120.0, "name": "visit on day 120", "modalities": [],
                                                      "treatments": ["surgery"]}],
            "median_days": median_days, "survival_1y": 0.61, "survival_2y": 0.22, "risk": 0.4,
            "per_visit": [{"day": 0.0, "median_days": m, "survival_1y": 0.7, "survival_2y": 0.3}
                          for m in per_visit_medians],
            "warnings": [], "model": {"name": "tiny", "version": "0"}}


def test_summaries_print_months_not_a_unit_slip():
    """Bug guarded: days divided by 365.25 (years) or by 365.25 * 12, printed as months
    (400 days shown as 1.1 or 0.1 months), in the prognose summary, the demo's or the report."""
    data = _survival_data(400.0, [400.0, 913.0])
    text = prognose_summary(data)
    assert "median survival: 13.1 months (400 days) since the first visit" in text
    assert "day 0: median 13.1 months" in text and "30.0 months" in text  # 913 days
    assert "not reached" in prognose_summary(_survival_data(None, [None, None]))
    classification = {"modality_weights": {"T1C": 1.0}, "probabilities": {"HGG": 0.8}, "predicted": "HGG",
                      "coverage": 0.9, "prediction_set": ["HGG"], "warnings": []}
    truth = SimpleNamespace(label="HGG", event=True, survival_days=500)
    demo = demo_summary(classification, data, [truth], "report.html", 3.0)
    assert "13.1 months since the first visit" in demo
    html = survival_section(data, None)
    assert "13.1 months (400 days)" in html and "30.0 months (913 days)" in html


# ---------------------------------------------------------------------------------------------
# The curve after each visit uses no later visit.

@pytest.mark.parametrize("which", ["tiny", "grouped band"])
def test_each_visits_curve_uses_no_later_visit(which, prognosticator, grouped_prognosticator):
    """Bug guarded: the curve after visit k read from a later visit's hazards (e.g. the last
    one for every visit, or a GRU that sees the whole sequence), or its band set from all
    visits instead of those seen by then."""
    visits = [PrognosisVisit(day=0, study=_study(8.0)),
              PrognosisVisit(day=90, study=_study(13.0), treatments=("surgery",)),
              PrognosisVisit(day=150, treatments=("surgery", "radiotherapy")),
              PrognosisVisit(day=260, study=_study(18.0), treatments=("surgery", "radiotherapy"))]
    clinical = {"age": 55, "sex": "F", "kps": 70}
    prognosticator = prognosticator if which == "tiny" else grouped_prognosticator
    full = prognosticator.predict(visits, clinical)
    assert [c["day"] for c in full.per_visit] == [0, 90, 150, 260]
    for k in range(len(visits)):
        alone = prognosticator.predict(visits[: k + 1], clinical)
        for key in ("survival", "lower", "upper", "median_days", "survival_1y", "survival_2y", "risk"):
            assert alone.per_visit[-1][key] == pytest.approx(full.per_visit[k][key], abs=1e-5), (k, key)
        assert alone.survival == pytest.approx(full.per_visit[k]["survival"], abs=1e-5)
    # The curves do differ from visit to visit (so reading the wrong one would show).
    assert max(abs(a - b) for a, b in zip(full.per_visit[0]["survival"], full.per_visit[-1]["survival"])) > 1e-3


# ---------------------------------------------------------------------------------------------
# prognose --device is honoured, and an unknown device is refused in one sentence.

@pytest.mark.parametrize("device, says", [("tpu", "'tpu'"), ("cuda:99", "GPU"), ("banana", "'banana'")])
def test_prognose_device_is_honoured_and_an_unknown_one_refused(models, tmp_path, capsys, device, says):
    """Bug guarded: ``--device`` dropped on the way to the models (the default device runs
    instead: a CPU run where cuda:99 was asked for) or an unknown device ending in a traceback."""
    out = tmp_path / "out"
    code = main(["prognose", "--visit", "0:", "--visit", "60:", "--model", models[1], "--device", device,
                 "--out", str(out)])
    error = capsys.readouterr().err
    assert code == 2, error
    assert says in error and "Traceback" not in error and error.strip().count("\n") == 0
    assert not out.exists()  # refused before --out was made


def test_prognose_device_cpu_runs_there(models, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["prognose", "--visit", "0:", "--visit", "60:", "--model", models[1], "--device", "cpu",
                 "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["per_visit"][1]["day"] == 60
    loaded = Prognosticator.load(models[1], device="cpu")
    assert loaded.device == "cpu" and loaded.classifier.device == "cpu"
    assert all(p.device.type == "cpu" for p in loaded.model.parameters())


# ---------------------------------------------------------------------------------------------
# batch: a failed case is tried again by the next run once its file is fixed.

@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("guard-cohort") / "cohort"
    assert main(["cohort", "--out", str(folder), "--patients", "1", "--seed", "11", "--visits", "2",
                 "--modalities", "T1C", "FLAIR", "--spacing", "4"]) == 0
    return folder


def _rows(path):
    with open(path, newline="") as handle:
        return {row["case"]: row for row in csv.DictReader(handle)}


def test_a_failed_batch_case_is_retried_on_resume_once_fixed(models, cohort, tmp_path):
    """Bug guarded: a case folder holding error.json counted as finished (never retried), or
    the retry's result not replacing the failure."""
    source = tmp_path / "cohort"
    shutil.copytree(cohort, source)
    case = sorted(p for p in source.iterdir() if p.is_dir())[0]
    t1c = next(case.glob("*-t1c.nii.gz"))
    good = t1c.read_bytes()
    t1c.write_bytes(b"not an image")
    out = tmp_path / "out"
    first = run_batch(source, out, model=models[0], prognosis_model=models[1], device="cpu")
    patient = case.name.rsplit("-", 1)[0]
    assert first["failed"] == [case.name, patient] and first["ran"] == 3
    assert (out / "cases" / case.name / "error.json").is_file()
    assert "Cannot read" in _rows(out / "results.csv")[case.name]["error"]
    other = next(p for p in (out / "cases").iterdir() if p.name != case.name)
    stamp = (other / "result.json").stat().st_mtime_ns

    t1c.write_bytes(good)  # the user fixes the file and runs the same command again
    second = run_batch(source, out, model=models[0], prognosis_model=models[1], device="cpu")
    assert second["failed"] == [] and second["ran"] == 2 and second["skipped_finished"] == 1
    assert (out / "cases" / case.name / "result.json").is_file()
    assert not (out / "cases" / case.name / "error.json").exists()
    assert (out / "patients" / patient / "survival.json").is_file()
    assert not (out / "patients" / patient / "error.json").exists()
    assert (other / "result.json").stat().st_mtime_ns == stamp  # the finished case was not redone
    rows = _rows(out / "results.csv")
    assert rows[case.name]["error"] == "" and rows[case.name]["predicted"] in ("HGG", "LGG")
    assert rows[case.name]["survival_1y"] != "" and rows[case.name]["survival_error"] == ""
    # A third run has nothing left to do.
    third = run_batch(source, out, model=models[0], prognosis_model=models[1], device="cpu")
    assert third["ran"] == 0 and third["failed"] == []


def test_batch_saliency_option_reaches_every_case(models, cohort, tmp_path):
    """Bug killed: the batch job drops ``saliency`` (every case classified without maps)."""
    out = tmp_path / "out"
    summary = run_batch(cohort, out, saliency="layercam", model=models[0], prognosis_model=models[1], device="cpu",
                        prognosis=False)
    assert summary["failed"] == [] and summary["ran"] == 2
    for case in (out / "cases").iterdir():
        result = json.loads((case / "result.json").read_text())
        assert result["saliency_method"] == "layercam"
        assert set(result["saliency"]) == {"fused", "T1C", "FLAIR"}
        image = sitk.ReadImage(str(case / "saliency_fused.nii.gz"))
        assert sitk.GetArrayViewFromImage(image).max() > 0
