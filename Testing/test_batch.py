"""`braintumorai batch`: a cohort run resumes without redoing finished cases, records a broken
case and goes on, and gives the same results.csv serially, on worker processes and on a local
Dask cluster of two workers."""

import csv
import json
import os

import pytest

from braintumorai.batch import run_batch
from braintumorai.cli import main

from model_helpers import tiny_models


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    classifier, prognosis = tiny_models(folder)
    cohort = folder / "cohort"
    assert main(["cohort", "--out", str(cohort), "--patients", "3", "--seed", "5", "--visits", "2",
                 "--modalities", "T1C", "FLAIR", "--spacing", "4"]) == 0
    return cohort, str(classifier), str(prognosis)


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _run(setup, out, **kwargs):
    cohort, classifier, prognosis = setup
    return run_batch(cohort / "manifest.csv", out, model=classifier, prognosis_model=prognosis, device="cpu", **kwargs)


def test_serial_run_resume_and_a_broken_case(setup, tmp_path):
    cohort, classifier, prognosis = setup
    out = tmp_path / "out"
    first = _run(setup, out)
    assert first["cases"] == 6 and first["patients"] == 3 and first["ran"] == 9 and first["failed"] == []
    rows = _rows(out / "results.csv")
    assert [r["case"] for r in rows] == sorted(r["case"] for r in rows) and len(rows) == 6
    assert all(r["predicted"] in ("HGG", "LGG") and r["error"] == "" and r["survival_1y"] for r in rows)
    assert abs(float(rows[0]["p_HGG"]) + float(rows[0]["p_LGG"]) - 1) < 1e-5
    # Resume: nothing finished is redone; a half-written folder of an interrupted job is ignored.
    stamp = os.stat(out / "cases" / rows[0]["case"] / "result.json").st_mtime_ns
    (out / "cases" / ".SYN-XXXX.partial-1").mkdir()
    again = _run(setup, out)
    assert again["ran"] == 0 and again["skipped_finished"] == 9
    assert os.stat(out / "cases" / rows[0]["case"] / "result.json").st_mtime_ns == stamp
    assert _rows(out / "results.csv") == rows


def test_a_broken_case_is_recorded_and_the_run_goes_on(setup, tmp_path):
    cohort, classifier, prognosis = setup
    broken = tmp_path / "cohort"
    os.system(f"cp -r {cohort} {broken}")
    case = sorted(p for p in broken.iterdir() if p.is_dir())[0]
    next(case.glob("*-t1c.nii.gz")).write_bytes(b"not an image")
    out = tmp_path / "out"
    summary = run_batch(broken, out, model=classifier, prognosis_model=prognosis, device="cpu")
    assert summary["failed"] == [case.name, case.name.rsplit("-", 1)[0]]  # the case, and its patient's survival
    rows = {r["case"]: r for r in _rows(out / "results.csv")}
    assert rows[case.name]["predicted"] == "" and "Cannot read" in rows[case.name]["error"]
    assert sum(r["error"] == "" for r in rows.values()) == 5
    error = json.loads((out / "cases" / case.name / "error.json").read_text())["error"]
    assert error.count(".") >= 1 and "\n" not in error


def test_same_csv_serially_on_processes_and_on_a_dask_cluster(setup, tmp_path):
    from dask.distributed import Client, LocalCluster

    serial = _run(setup, tmp_path / "serial")
    processes = _run(setup, tmp_path / "processes", workers=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        on_dask = _run(setup, tmp_path / "dask", scheduler=client)
    expected = (tmp_path / "serial" / "results.csv").read_text()
    assert (tmp_path / "processes" / "results.csv").read_text() == expected
    assert (tmp_path / "dask" / "results.csv").read_text() == expected
    assert serial["ran"] == processes["ran"] == on_dask["ran"] == 9


def test_batch_command(setup, tmp_path, capsys):
    cohort, classifier, prognosis = setup
    code = main(["batch", str(cohort), "--out", str(tmp_path / "out"), "--model", classifier, "--prognosis-model",
                 prognosis, "--device", "cpu", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ran"] == 9 and os.path.exists(summary["results_csv"])
    assert main(["batch", str(tmp_path / "nothing-here"), "--out", str(tmp_path / "o")]) == 2
